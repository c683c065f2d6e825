/**
 * Before the fix: ToolCallValidator keeps one compiled validator per tool name
 * (`compiled`), replacing it when the tool's schema text changes, but it compiles through ONE
 * long-lived Ajv instance, and `ajv.compile(schema)` also stores every schema object it is given
 * in Ajv's own cache (`ajv._cache`, a Map keyed by the schema object, strong references) with its
 * generated code. Nothing calls `ajv.removeSchema`, so every schema revision the agent worker ever
 * saw stays compiled for the life of the process. Revisions come from the tool catalog: an MCP
 * server whose tool schemas change (`tools/list_changed`, dynamic enums), or runners of two
 * versions whose snapshots take turns winning during a rollout (each restart publishes under a
 * new random runner id).
 */
import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '@switchboard/contracts';
import { ToolCallValidator } from './validate.ts';

/** The same tool as the catalog hands it out after its schema changed `n` times (a fresh object each read). */
const revision = (n: number): ToolDefinition => ({
  name: 'mcp__files__open',
  description: 'Opens one of the files the server lists',
  parameters: { type: 'object', properties: { file: { type: 'string', enum: Array.from({ length: 20 }, (_, i) => `file-${n}-${i}.txt`) } }, required: ['file'] },
  timeoutMs: 30_000,
  risk: 'low',
});

describe('ToolCallValidator: superseded schemas', () => {
  it('keeps only the validators of the schemas in use', () => {
    const validator = new ToolCallValidator();
    const REVISIONS = 200;
    for (let n = 0; n < REVISIONS; n++) expect(validator.check([revision(n)], 'mcp__files__open', JSON.stringify({ file: `file-${n}-0.txt` })).ok).toBe(true);
    const internals = validator as unknown as { compiled: Map<string, unknown>; ajv: { _cache: Map<unknown, unknown> } };
    expect(internals.compiled.size).toBe(1); // the validator's own map is bounded...
    // ...but Ajv holds every revision (200 compiled schemas for one tool) before the fix.
    expect(internals.ajv._cache.size, `${internals.ajv._cache.size} compiled schemas retained by Ajv for 1 tool`).toBeLessThanOrEqual(2);
  });
});
