/**
 * Before the fix: `addUsedSchema: false` (so that two schemas with one `$id` do not clash) also
 * stops Ajv from resolving a `$ref` to the schema's own `$id`: a recursive schema (`child: {
 * $ref: "<its $id>" }`) no longer compiles ("can't resolve reference ... from id ..."). Before that
 * change it compiled and was checked; after it, `check` threw out of the agent's turn at every
 * call of such a tool. (The second test, a reference into its own definitions by absolute URI,
 * passed already; it guards the fix.)
 */
import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '@switchboard/contracts';
import { ToolCallValidator } from './validate.ts';

const tool = (name: string, parameters: Record<string, unknown>): ToolDefinition => ({ name, description: name, parameters, timeoutMs: 30_000, risk: 'medium' });

const ID = 'https://schemas.example.com/node.json';

describe('ToolCallValidator: schemas that refer to their own $id', () => {
  it('checks a recursive schema that refers to itself by its $id', () => {
    const tree = tool('mcp__docs__tree', { $id: ID, type: 'object', properties: { name: { type: 'string' }, child: { $ref: ID } }, required: ['name'] });
    const v = new ToolCallValidator();
    expect(v.check([tree], tree.name, '{"name":"a","child":{"name":"b"}}')).toEqual({ ok: true, args: { name: 'a', child: { name: 'b' } } });
    expect(v.check([tree], tree.name, '{"name":"a","child":{"name":3}}')).toMatchObject({ ok: false });
  });

  it('checks a schema that points into its own definitions by absolute URI, next to another schema with the same $id', () => {
    const byUri = tool('mcp__docs__find', {
      $id: ID,
      type: 'object',
      definitions: { limit: { type: 'integer', maximum: 10 } },
      properties: { limit: { $ref: `${ID}#/definitions/limit` } },
    });
    const other = tool('mcp__docs__other', { $id: ID, type: 'object', properties: { q: { type: 'string' } }, required: ['q'] });
    const v = new ToolCallValidator();
    expect(v.check([byUri, other], other.name, '{"q":"x"}')).toEqual({ ok: true, args: { q: 'x' } });
    expect(v.check([byUri, other], byUri.name, '{"limit":5}')).toEqual({ ok: true, args: { limit: 5 } });
    expect(v.check([byUri, other], byUri.name, '{"limit":50}')).toMatchObject({ ok: false });
    expect(v.check([byUri, other], other.name, '{}')).toMatchObject({ ok: false });
  });
});
