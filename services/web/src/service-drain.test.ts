/**
 * Shutting a web replica down (SIGTERM in a rolling deploy: /readyz turns 503 "so
 * traffic drains") must not cut the chat completions it holds: their messages are enqueued and
 * their answers come, so the replica waits for them (for a while), while SSE streams are ended at
 * once (their clients reconnect elsewhere with Last-Event-ID). Before, close() destroyed every
 * connection: a waiting client got a reset and, retrying, had its message answered twice.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from './service.ts';
import { webSessionKey } from './web-session.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start() {
  const prefix = uniquePrefix('probedrain');
  const config = loadWebConfig({ PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_PREFIX: prefix });
  const web: WebService = await startWebService({ config, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') });
  const redis = createRedis(inject('redisUrl'), 'test');
  const store = new LaneStore(redis, { prefix });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await web.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { web, store, redis, close: () => ((closed = true), web.close()) };
}

/** The id of the one message waiting in the session's inbox (the agent worker's view of it). */
async function waitingMessageId(redis: ReturnType<typeof createRedis>, store: LaneStore, sessionId: string): Promise<string> {
  let id = '';
  await waitFor(async () => {
    const entries = (await redis.xrange(store.keys.inbox(webSessionKey('local', sessionId)), '-', '+')) as Array<[string, string[]]>;
    const fields = entries[0]?.[1] ?? [];
    id = fields[fields.indexOf('i') + 1] ?? '';
    return entries.length === 1;
  }, { timeoutMs: 5000 });
  return id;
}

describe('closing a web replica', () => {
  it('lets a chat completion it holds get its answer, and ends SSE streams at once', async () => {
    const app = await start();
    const sse = await fetch(`${app.web.url}/v1/sessions/watcher/events`);
    expect(sse.status).toBe(200);
    const sseText = sse.text().then((t) => ({ ended: true, t }), () => ({ ended: false, t: '' }));
    const pending = fetch(`${app.web.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': 'drain1' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }),
    }).then(
      async (res) => ({ status: res.status, body: (await res.json()) as { choices?: Array<{ message: { content: string } }> } }),
      (err: unknown) => ({ status: 0, body: { error: String(err) } as { choices?: undefined; error: string } }),
    );
    const messageId = await waitingMessageId(app.redis, app.store, 'drain1');
    const closing = app.close();
    // The SSE stream ends (it does not hold the shutdown up; its client reconnects elsewhere).
    await sseText;
    // An agent worker answers meanwhile.
    await new Promise((r) => setTimeout(r, 200));
    await app.store.appendEvent(webSessionKey('local', 'drain1'), { type: 'turn_started', turnId: 't1', messageIds: [messageId] });
    await app.store.appendEvent(webSessionKey('local', 'drain1'), { type: 'reply', turnId: 't1', replyId: 'r1', text: 'hi there', inReplyTo: [messageId] });
    const result = await pending;
    expect(result.status).toBe(200);
    expect(result.body.choices?.[0]?.message.content).toBe('hi there');
    await closing;
  });
});
