import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, wrapUntrusted, type ToolPlugin } from '@switchboard/tools';
import { capOutput, runTool } from './run-tool.ts';

const job = (tool: string, args: Record<string, unknown>, timeoutMs?: number) => ({
  v: 1 as const,
  turnId: 't1',
  toolCallId: 'c1',
  sessionKey: 'web:local:s',
  platform: 'web',
  userId: 'u',
  tool,
  arguments: args,
  ...(timeoutMs ? { timeoutMs } : {}),
});

const slow = defineTool({
  name: 'slow',
  description: 'never finishes on its own',
  risk: 'low',
  timeoutMs: 200,
  parameters: z.object({}),
  execute: (_args, ctx) => new Promise<string>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
}) as unknown as ToolPlugin;

const loud = defineTool({
  name: 'loud',
  description: 'prints a lot',
  risk: 'low',
  parameters: z.object({ n: z.number().int() }),
  execute: async ({ n }) => 'é'.repeat(n),
}) as unknown as ToolPlugin;

describe('runTool', () => {
  it('stops a run at its time limit and aborts its signal', async () => {
    const started = Date.now();
    const result = await runTool(slow, job('slow', {}), { maxOutputBytes: 1000 });
    expect(result).toMatchObject({ ok: false, errorCode: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('never lets a job ask for more time than the tool allows', async () => {
    const started = Date.now();
    await runTool(slow, job('slow', {}, 60_000), { maxOutputBytes: 1000 });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('caps output on a character boundary and says so', async () => {
    const result = await runTool(loud, job('loud', { n: 10_000 }), { maxOutputBytes: 101 });
    expect(result.ok).toBe(true);
    expect(result.truncated).toBe(true);
    expect(result.output).toMatch(/^é{50}\n\[output truncated at 101 bytes\]$/);
  });

  it('reports bad arguments without running the tool', async () => {
    const result = await runTool(loud, job('loud', { n: 'many' }), { maxOutputBytes: 1000 });
    expect(result).toMatchObject({ ok: false, errorCode: 'bad_request' });
  });

  it('cuts output a tool wrapped as untrusted inside the wrapper, which stays whole and within the cap', () => {
    const wrapped = wrapUntrusted('tool:web_fetch', { url: 'http://example.test/' }, 'x'.repeat(10_000), 16_384);
    const capped = capOutput(wrapped, 4096);
    expect(capped.truncated).toBe(true);
    expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(4096);
    expect(capped.text.startsWith(wrapped.slice(0, wrapped.indexOf('>\n') + 2))).toBe(true);
    expect(capped.text).toMatch(/x\n\[content cut to fit the output limit\]\n<\/untrusted>$/);
    expect(capOutput(wrapped, 16_384)).toEqual({ text: wrapped, truncated: false });
  });

  it('capOutput leaves short text alone', () => {
    expect(capOutput('short', 100)).toEqual({ text: 'short', truncated: false });
  });

  it('applies per-scope settings: a shorter time limit, a smaller output cap, and options in ctx.settings', async () => {
    const slowResult = await runTool(slow, job('slow', {}), { maxOutputBytes: 1000, settings: { timeoutMs: 50 } });
    expect(slowResult).toMatchObject({ ok: false, errorCode: 'timeout', output: 'timed out after 50 ms' });
    // Settings can only tighten: a longer limit than the plugin's own is ignored.
    expect((await runTool(slow, job('slow', {}), { maxOutputBytes: 1000, settings: { timeoutMs: 60_000 } })).output).toBe('timed out after 200 ms');
    const capped = await runTool(loud, job('loud', { n: 1000 }), { maxOutputBytes: 4000, settings: { maxOutputBytes: 300 } });
    expect(capped.truncated).toBe(true);
    expect(Buffer.byteLength(capped.output)).toBeLessThan(400);
    const probe = defineTool({ name: 'probe', description: 'shows its settings', risk: 'low', parameters: z.object({}), execute: async (_a, ctx) => JSON.stringify(ctx.settings) }) as unknown as ToolPlugin;
    expect((await runTool(probe, job('probe', {}), { maxOutputBytes: 1000, settings: { options: { greeting: 'hi' } } })).output).toBe('{"greeting":"hi"}');
    expect((await runTool(probe, job('probe', {}), { maxOutputBytes: 1000 })).output).toBe('{}');
  });
});
