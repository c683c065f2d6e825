/**
 * Before the fix: ToolCallValidator
 * (the agent worker's check of every tool call) compiles every tool's JSON Schema in ONE Ajv
 * instance, which by default registers each schema that has an `$id` and refuses a second schema
 * with the same `$id` ("schema with key or id ... already exists"). MCP tools reach the catalog
 * with their server's `inputSchema` as it is, `$id` included (generators emit one per schema, often
 * the same for every tool of a server). So once one such tool was checked, a call to any other tool
 * with that `$id`, or to the same tool after its server changed its schema, throws out of `check`
 * instead of returning a verdict: the agent's turn fails on it, every time.
 */
import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '@switchboard/contracts';
import { ToolCallValidator } from './validate.ts';

const tool = (name: string, properties: Record<string, unknown>, required: string[]): ToolDefinition => ({
  name,
  description: name,
  parameters: { $id: 'https://schemas.example.com/tool-input.json', type: 'object', properties, required, additionalProperties: false },
  timeoutMs: 30_000,
  risk: 'medium',
});

describe('ToolCallValidator: schemas that share an $id', () => {
  it('checks each tool against its own schema', () => {
    const search = tool('mcp__docs__search', { query: { type: 'string' } }, ['query']);
    const remove = tool('mcp__docs__delete', { path: { type: 'string', pattern: '^/scratch/' } }, ['path']);
    const v = new ToolCallValidator();
    expect(v.check([search, remove], 'mcp__docs__search', '{"query":"x"}')).toEqual({ ok: true, args: { query: 'x' } });
    expect(() => v.check([search, remove], 'mcp__docs__delete', '{"path":"/scratch/a"}')).not.toThrow();
    expect(v.check([search, remove], 'mcp__docs__delete', '{"path":"/scratch/a"}')).toEqual({ ok: true, args: { path: '/scratch/a' } });
    expect(v.check([search, remove], 'mcp__docs__delete', '{"path":"/etc/passwd"}').ok).toBe(false);
  });

  it('checks a tool against its new schema after its server changed it', () => {
    const v = new ToolCallValidator();
    const before = tool('mcp__docs__take', { n: { type: 'integer', maximum: 1000 } }, ['n']);
    const after = tool('mcp__docs__take', { n: { type: 'integer', maximum: 10 } }, ['n']);
    expect(v.check([before], 'mcp__docs__take', '{"n":500}').ok).toBe(true);
    expect(() => v.check([after], 'mcp__docs__take', '{"n":500}')).not.toThrow();
    expect(v.check([after], 'mcp__docs__take', '{"n":500}').ok).toBe(false);
  });
});
