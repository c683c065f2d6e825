/**
 * A streamed chat completion of a turn with several model steps (text, then a tool
 * call, then the final answer) must end with the final answer once, as the non-streamed completion
 * has it, not stream it and then send it again after a blank line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from '../support/sse.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

describe('streamed chat completion of a turn with a tool step (whole system)', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('the streamed content holds the final answer once, as the non-streamed reply does', async () => {
    t.model.setScript((body) => {
      if (!body.messages.some((m) => m.role === 'tool')) return { text: 'Let me check with the tool. ', toolCalls: [{ id: 'call_1', name: 'echo', arguments: { text: 'ping' } }], chunkSize: 4, chunkDelayMs: 30 };
      return { text: 'The tool said ping.', chunkSize: 4, chunkDelayMs: 60 };
    });
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': 'steps-sys' },
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'go' }] }),
    });
    const events: SseEvent[] = [];
    await readSse(res.body!, (e) => events.push(e));
    const text = events
      .filter((e) => e.data.startsWith('{'))
      .map((e) => (JSON.parse(e.data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text.endsWith('The tool said ping.')).toBe(true);
    expect(text.split('The tool said ping.').length - 1).toBe(1);
  });
});
