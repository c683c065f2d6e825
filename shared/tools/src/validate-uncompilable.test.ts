/**
 * Before the fix: the tool-runner offers an MCP tool whose input schema Ajv cannot compile (an
 * invalid `pattern`, a `$ref` that resolves nowhere) and leaves checking its arguments to the
 * server (mcp-tool.ts). The agent's ToolCallValidator compiled the same schema inside `check`, and
 * the compile error was thrown out of `check`: every call of that tool failed the agent's turn
 * instead of being checked (the commit made `check` stop throwing for schemas sharing an `$id`,
 * but not for these).
 */
import { describe, expect, it } from 'vitest';
import type { ToolDefinition } from '@switchboard/contracts';
import { ToolCallValidator } from './validate.ts';

const tool = (name: string, parameters: Record<string, unknown>): ToolDefinition => ({ name, description: name, parameters, timeoutMs: 30_000, risk: 'medium' });

describe('ToolCallValidator: a schema Ajv cannot compile', () => {
  it('returns a verdict instead of throwing, leaving the schema check to the runner and the server', () => {
    const badPattern = tool('mcp__docs__grep', { type: 'object', properties: { re: { type: 'string', pattern: '[' } } });
    const badRef = tool('mcp__docs__open', { type: 'object', properties: { x: { $ref: '#/$defs/missing' } } });
    const v = new ToolCallValidator();
    expect(() => v.check([badPattern, badRef], 'mcp__docs__grep', '{"re":"x"}')).not.toThrow();
    expect(v.check([badPattern, badRef], 'mcp__docs__grep', '{"re":"x"}')).toEqual({ ok: true, args: { re: 'x' } });
    expect(v.check([badPattern, badRef], 'mcp__docs__open', '{"x":1}')).toEqual({ ok: true, args: { x: 1 } });
    // Still a JSON object, though.
    expect(v.check([badPattern], 'mcp__docs__grep', '[1]')).toMatchObject({ ok: false });
  });

  it('checks the tool again once its schema compiles, and a compilable schema replaced by a broken one does not throw', () => {
    const v = new ToolCallValidator();
    const good = tool('t', { type: 'object', properties: { n: { type: 'number' } } });
    const bad = tool('t', { type: 'object', properties: { n: { type: 'number', pattern: '(' } } });
    expect(v.check([good], 't', '{"n":"x"}')).toMatchObject({ ok: false });
    expect(() => v.check([bad], 't', '{"n":"x"}')).not.toThrow();
    expect(v.check([good], 't', '{"n":"x"}')).toMatchObject({ ok: false });
    expect(v.check([good], 't', '{"n":1}')).toEqual({ ok: true, args: { n: 1 } });
  });
});
