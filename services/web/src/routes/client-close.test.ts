/**
 * Clients that leave early or requests that fail midway: what a stream holds is released, a stream
 * whose head is out still ends, a streamed answer whose turn is run again still ends with the
 * final answer, and an idempotency key deduplicates only within its own session or hook.
 */
import { connect } from 'node:net';
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

/** The web app on real Redis; `ingress` may be swapped for one that fails. */
async function startApp(opts: { ingress?: (real: LaneIngress) => LaneIngress; subscribeFails?: boolean } = {}) {
  const secret = 'x'.repeat(32);
  const app = await startTestWebApp(inject('redisUrl'), { ...opts, hooks: { a: { secret }, 'a-b': { secret } } });
  cleanups.push(app.close);
  const sseGauge = async () => (await app.registry.getSingleMetric('sse_connections')!.get()).values[0]?.value ?? 0;
  return { ...app, sseGauge, secret };
}

/** Sends raw HTTP and closes the socket: at once, or after the first bytes of the answer. */
async function rawThenClose(port: number, request: string, when: 'at-once' | 'after-head'): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(request);
  if (when === 'after-head') await new Promise((resolve) => socket.once('data', resolve));
  socket.destroy();
}

describe('SSE events: a client that leaves', () => {
  it('releases its subscription, keep-alive and gauge when it closes while the stream is being set up', async () => {
    const app = await startApp();
    // Closed right after the request: the close comes while the route awaits the newest event id.
    for (let i = 0; i < 10; i++) await rawThenClose(app.port, `GET /v1/sessions/early${i}/events HTTP/1.1\r\nHost: x\r\n\r\n`, 'at-once');
    await waitFor(() => app.hub.size === 0, { timeoutMs: 5000, message: 'the hub still serves closed clients' });
    await waitFor(async () => (await app.sseGauge()) === 0, { timeoutMs: 5000 });
    // Held a little longer by the app's answer: the hub, then nothing.
    await new Promise((r) => setTimeout(r, 300));
    expect(app.hub.size).toBe(0);
    expect(await app.sseGauge()).toBe(0);
  });

  it('releases its stream when the GET carried a body (the request had ended before the route ran)', async () => {
    const app = await startApp();
    await rawThenClose(app.port, 'GET /v1/sessions/body1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', 'after-head');
    await waitFor(() => app.hub.size === 0, { timeoutMs: 5000, message: 'the hub still serves the closed stream' });
    await waitFor(async () => (await app.sseGauge()) === 0, { timeoutMs: 5000 });
  });

  it('answers a HEAD with the stream’s head alone, holding no subscription', async () => {
    const app = await startApp();
    const res = await fetch(`${app.url}/v1/sessions/head1/events`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.hub.size).toBe(0);
    expect(await app.sseGauge()).toBe(0);
  });
});

describe('SSE events: a stream that fails after its head', () => {
  it('is ended (the client reconnects), not left open', async () => {
    const app = await startApp({ subscribeFails: true });
    const res = await fetch(`${app.url}/v1/sessions/s1/events`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('retry: 1000\n\n');
    await waitFor(async () => (await app.sseGauge()) === 0, { timeoutMs: 5000 });
  });
});

describe('chat completions: a streamed turn that is run again', () => {
  /** Streams a completion of session `sessionId`, plays `events` for its turn, returns the text the client got. */
  async function streamWith(sessionId: string, events: (messageId: string) => SessionEvent[]): Promise<string> {
    let messageId = '';
    const app = await startApp({
      ingress: (real) => ({ submit: (m: InboundMessage) => ((messageId = m.id), real.submit(m)) }) as unknown as LaneIngress,
    });
    const body = fetch(`${app.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': sessionId },
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    }).then((res) => res.text());
    await waitFor(() => messageId !== '');
    // The agent worker's part, played by hand: the events its runs of the turn append.
    for (const event of events(messageId)) await app.store.appendEvent(webSessionKey('local', sessionId), event);
    const text = await body;
    return text
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]!.delta.content ?? '')
      .join('');
  }

  it('ends with the final answer when a resumed run answers otherwise than the streamed one began', async () => {
    const text = await streamWith('rerun1', (id) => [
      { type: 'turn_started', turnId: 't1', messageIds: [id] },
      { type: 'delta', turnId: 't1', text: 'Hello wor', attempt: 1 },
      // The worker died; the resumed run streams anew, and answers differently.
      { type: 'delta', turnId: 't1', text: 'Good', attempt: 2 },
      { type: 'reply', turnId: 't1', replyId: 'r1', text: 'Goodbye.', inReplyTo: [id] },
    ]);
    expect(text).toBe('Hello wor\n\nGoodbye.');
  });

  it('does not run two runs of an interrupted turn together, and ends with the final answer', async () => {
    const text = await streamWith('rerun2', (id) => [
      { type: 'turn_started', turnId: 't1', messageIds: [id] },
      { type: 'delta', turnId: 't1', text: 'abc', attempt: 1 },
      // A newer message interrupted the turn; its batch is claimed again under a new turn id.
      { type: 'turn_started', turnId: 't2', messageIds: [id, 'm-newer'] },
      { type: 'delta', turnId: 't2', text: 'xyz', attempt: 1 },
      { type: 'reply', turnId: 't2', replyId: 'r2', text: 'xyz done', inReplyTo: [id, 'm-newer'] },
    ]);
    expect(text).toBe('abc\n\nxyz done');
  });

  it('sends only what the final answer adds to the streamed text', async () => {
    const text = await streamWith('rerun3', (id) => [
      { type: 'turn_started', turnId: 't1', messageIds: [id] },
      { type: 'delta', turnId: 't1', text: 'Hello ', attempt: 1 },
      { type: 'reply', turnId: 't1', replyId: 'r1', text: 'Hello world.', inReplyTo: [id] },
    ]);
    expect(text).toBe('Hello world.');
  });
});

describe('chat completions: a client that leaves, a request that fails', () => {
  it('stops waiting for the reply when the client disconnects', async () => {
    const app = await startApp();
    for (const stream of [false, true]) {
      const ac = new AbortController();
      const pending = fetch(`${app.url}/v1/chat/completions`, {
        method: 'POST',
        signal: ac.signal,
        headers: { 'content-type': 'application/json', 'x-session-id': `gone-${stream}` },
        body: JSON.stringify({ stream, messages: [{ role: 'user', content: 'hi' }] }),
      }).then(async (res) => void (await res.text()));
      await waitFor(() => app.hub.size === 1, { timeoutMs: 5000 });
      ac.abort();
      await pending.catch(() => undefined);
      await waitFor(() => app.hub.size === 0, { timeoutMs: 5000, message: `stream=${stream}: still listening for a client that left` });
    }
  });

  it('ends a stream whose head was sent with an error chunk when enqueueing fails; without streaming it is a 500', async () => {
    const app = await startApp({ ingress: () => ({ submit: () => Promise.reject(new Error('redis down')) }) as unknown as LaneIngress });
    const post = (stream: boolean) =>
      fetch(`${app.url}/v1/chat/completions`, {
        method: 'POST',
        signal: AbortSignal.timeout(5000),
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const streamed = await post(true);
    expect(streamed.status).toBe(200);
    const text = await streamed.text();
    expect(text).toContain('"code":"handler_error"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const plain = await post(false);
    expect(plain.status).toBe(500);
    expect(await plain.json()).toMatchObject({ error: { code: 'handler_error' } });
    expect(app.hub.size).toBe(0);
  });
});

describe('idempotency keys', () => {
  it('deduplicate within one session, not across sessions whose ids and keys join alike', async () => {
    const app = await startApp();
    const post = async (session: string, key: string) =>
      (await (
        await fetch(`${app.url}/v1/sessions/${session}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `to ${session}`, idempotencyKey: key }) })
      ).json()) as { messageId: string; duplicate: boolean };
    const first = await post('a-b', 'c');
    expect(first.duplicate).toBe(false);
    expect(await post('a-b', 'c')).toEqual({ ...first, sessionId: 'a-b', duplicate: true });
    const other = await post('a', 'b-c');
    expect(other.duplicate).toBe(false);
    expect(other.messageId).not.toBe(first.messageId);
    expect(await app.redis.xlen(app.store.keys.inbox(webSessionKey('local', 'a')))).toBe(1);
    expect(await app.redis.xlen(app.store.keys.inbox(webSessionKey('local', 'a-b')))).toBe(1);
  });

  it('deduplicate within one hook, not across hooks whose names and keys join alike', async () => {
    const app = await startApp();
    const call = async (hook: string, key: string) =>
      (await (
        await fetch(`${app.url}/v1/hooks/${hook}`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-hook-secret': app.secret, 'idempotency-key': key }, body: 'payload' })
      ).json()) as { messageId: string; duplicate: boolean };
    const first = await call('a-b', 'c');
    expect((await call('a-b', 'c')).duplicate).toBe(true);
    const other = await call('a', 'b-c');
    expect(other.duplicate).toBe(false);
    expect(other.messageId).not.toBe(first.messageId);
  });
});
