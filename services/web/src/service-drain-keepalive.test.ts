/**
 * Before the fix: close() now waits (up to drainMs) for the requests under way instead of cutting
 * every connection at once. But the connections those requests came on stay kept alive meanwhile:
 * their responses still say `Connection: keep-alive`, and a client (or a proxy's upstream pool)
 * sends its next request on them, which the closing replica takes: a chat completion is
 * enqueued, and then cut without its answer when the drain ends (closeAllConnections, while
 * another request is still under way), so the
 * client's retry has the message answered twice, the very thing the drain is there to prevent.
 * A replica that is closing must close each connection after its response and enqueue nothing new.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from './service.ts';
import { webSessionKey } from './web-session.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function completionRequest(sessionId: string): string {
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] });
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Session-Id: ${sessionId}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('closing a web replica: kept-alive connections', () => {
  it('closes a connection after its response and takes no new request on it', async () => {
    const prefix = uniquePrefix('probeka');
    const config = loadWebConfig({ PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_PREFIX: prefix });
    const web: WebService = await startWebService({ config, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') });
    const redis = createRedis(inject('redisUrl'), 'test');
    const store = new LaneStore(redis, { prefix });
    const closing: { done?: Promise<void> } = {};
    cleanups.push(async () => {
      await (closing.done ?? web.close());
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    const inbox = (sessionId: string) => redis.xrange(store.keys.inbox(webSessionKey('local', sessionId)), '-', '+') as Promise<Array<[string, string[]]>>;

    const socket: Socket = connect(Number(new URL(web.url).port), '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => undefined);

    socket.write(completionRequest('ka1'));
    let messageId = '';
    await waitFor(async () => {
      const fields = (await inbox('ka1'))[0]?.[1] ?? [];
      messageId = fields[fields.indexOf('i') + 1] ?? '';
      return messageId !== '';
    }, { timeoutMs: 5000 });

    // Another request under way, answered later than this one: the drain goes on meanwhile.
    const other: Socket = connect(Number(new URL(web.url).port), '127.0.0.1');
    cleanups.push(() => void other.destroy());
    other.on('error', () => undefined);
    await new Promise((resolve) => other.once('connect', resolve));
    other.write(completionRequest('ka0'));
    await waitFor(async () => (await inbox('ka0')).length === 1, { timeoutMs: 5000 });

    closing.done = web.close({ drainMs: 2000 });
    await new Promise((r) => setTimeout(r, 200));
    // The agent worker answers the request under way.
    const key = webSessionKey('local', 'ka1');
    await store.appendEvent(key, { type: 'turn_started', turnId: 't1', messageIds: [messageId] });
    await store.appendEvent(key, { type: 'reply', turnId: 't1', replyId: 'r1', text: 'hi there', inReplyTo: [messageId] });
    await waitFor(() => received.includes('hi there'), { timeoutMs: 5000 });
    const head = received.slice(0, received.indexOf('\r\n\r\n')).toLowerCase();

    // The client reuses the connection it was told it could keep.
    if (!socket.destroyed) socket.write(completionRequest('ka2'));
    await new Promise((r) => setTimeout(r, 500));
    const enqueued = (await inbox('ka2')).length;
    await closing.done;

    // `closesConnection`: the answer given while closing does not keep its connection alive;
    // `enqueuedAfterClose`: chat completions the closing replica took (then cut at the end of the drain).
    expect({ closesConnection: head.includes('connection: close'), enqueuedAfterClose: enqueued }).toEqual({ closesConnection: true, enqueuedAfterClose: 0 });
  });
});
