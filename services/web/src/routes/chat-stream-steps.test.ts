/**
 * A streamed chat completion of a turn with several model steps (text, then a tool
 * call, then the final answer) must end with the final answer once, not stream it and then send
 * it again after a blank line.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { InboundMessage, SessionEvent } from '@switchboard/contracts';
import type { LaneIngress } from '@switchboard/lanes';
import { waitFor } from '@switchboard/testkit';
import { startTestWebApp } from '../test-support/web-app.ts';
import { webSessionKey } from '../web-session.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Streams a completion of `sessionId` on the web app alone, plays `events` as the agent worker would, returns the content the client assembled. */
async function streamWith(sessionId: string, events: (messageId: string) => SessionEvent[]): Promise<string> {
  let messageId = '';
  const { url, store, close } = await startTestWebApp(inject('redisUrl'), {
    ingress: (real) => ({ submit: (m: InboundMessage) => ((messageId = m.id), real.submit(m)) }) as unknown as LaneIngress,
  });
  cleanups.push(close);
  const body = fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-session-id': sessionId },
    body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  }).then((res) => res.text());
  await waitFor(() => messageId !== '');
  for (const event of events(messageId)) await store.appendEvent(webSessionKey('local', sessionId), event);
  return contentOf(await body);
}

function contentOf(sse: string): string {
  return sse
    .split('\n\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    .join('');
}

describe('streamed chat completions (events played by hand)', () => {
  it('does not send the final answer again after streaming it', async () => {
    const text = await streamWith('steps1', (id) => [
      { type: 'turn_started', turnId: 't1', messageIds: [id] },
      // Step 1: some text, then a tool call.
      { type: 'delta', turnId: 't1', text: 'Let me check. ', attempt: 1 },
      { type: 'tool_call', turnId: 't1', toolCallId: 'c1', tool: 'echo', arguments: { text: 'ping' } },
      { type: 'tool_result', turnId: 't1', toolCallId: 'c1', tool: 'echo', ok: true, output: 'ping' },
      // Step 2: the final answer, streamed by the same run.
      { type: 'delta', turnId: 't1', text: 'The tool said ', attempt: 1 },
      { type: 'delta', turnId: 't1', text: 'ping.', attempt: 1 },
      { type: 'reply', turnId: 't1', replyId: 'r1', text: 'The tool said ping.', inReplyTo: [id] },
    ]);
    expect(text).toBe('Let me check. The tool said ping.');
  });

  it('does not send it again when the steps were not told apart by tool events (calls that never ran)', async () => {
    const text = await streamWith('steps2', (id) => [
      { type: 'turn_started', turnId: 't1', messageIds: [id] },
      { type: 'delta', turnId: 't1', text: 'Let me check. ', attempt: 1 },
      { type: 'delta', turnId: 't1', text: 'corrected', attempt: 1 },
      { type: 'reply', turnId: 't1', replyId: 'r1', text: 'corrected', inReplyTo: [id] },
    ]);
    expect(text).toBe('Let me check. corrected');
  });

  it('names the session in the streamed answer’s X-Session-Id, a one-off one included', async () => {
    const { url, close } = await startTestWebApp(inject('redisUrl'));
    cleanups.push(close);
    const stop = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      signal: stop.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-session-id')).toMatch(/\S/);
    stop.abort();
  });
});
