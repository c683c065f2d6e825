import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, toDefinition, ToolCallValidator } from './index.ts';

const echo = toDefinition(
  defineTool({
    name: 'echo',
    description: 'Echo text back',
    risk: 'low',
    parameters: z.object({ text: z.string().max(10), times: z.number().int().min(1).optional() }),
    execute: async ({ text }) => text,
  }),
);

describe('ToolCallValidator', () => {
  const v = new ToolCallValidator();
  it('accepts valid arguments', () => {
    expect(v.check([echo], 'echo', '{"text":"hi","times":2}')).toEqual({ ok: true, args: { text: 'hi', times: 2 } });
  });
  it('rejects unknown tools, naming the available ones', () => {
    const r = v.check([echo], 'rm_rf', '{}');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/unknown tool "rm_rf".*echo/);
  });
  it('rejects invalid JSON and non-objects', () => {
    expect(v.check([echo], 'echo', '{"text":')).toMatchObject({ ok: false, error: expect.stringMatching(/not valid JSON/) });
    expect(v.check([echo], 'echo', '[1]')).toMatchObject({ ok: false, error: expect.stringMatching(/JSON object/) });
  });
  it('rejects schema violations with the path', () => {
    const r = v.check([echo], 'echo', '{"text":"far too long text","times":0}');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/\/text/);
    expect(!r.ok && r.error).toMatch(/\/times/);
    expect(v.check([echo], 'echo', '{}')).toMatchObject({ ok: false, error: expect.stringMatching(/text/) });
  });
});
