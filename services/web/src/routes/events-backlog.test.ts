/**
 * Before the fix, `GET /v1/sessions/{id}/events` wrote every event of the
 * session with `res.write()` and never looked at its return value or `res.writableLength`; the
 * server has no socket timeout (`requestTimeout = 0`, no `server.timeout`). A client that keeps the
 * connection open but stops reading (a phone app in the background, a stuck proxy, a hostile
 * client) makes the web process buffer every later event of that session in memory, without any
 * bound, for as long as the TCP connection lives. The stream is resumable (`Last-Event-ID`), so a
 * client that fell behind can simply be disconnected.
 */
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { Scheduler } from '@switchboard/scheduler';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { ApprovalBoard } from '@switchboard/tools';
import { createWebApp } from '../app.ts';
import { QueueInspector } from './admin-queues.ts';
import { webSessionKey } from '../web-session.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startApp() {
  const prefix = uniquePrefix('webprobe');
  const redis = createRedis(inject('redisUrl'), 'test');
  const subscriber = createRedis(inject('redisUrl'), 'test-sub');
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const hub = new EventHub(subscriber, store, logger);
  const app = createWebApp({
    logger,
    registry,
    ingress: new LaneIngress(store, turns, registry),
    store,
    hub,
    turns,
    approvals: new ApprovalBoard(redis, prefix),
    queues: new QueueInspector(redis, prefix),
    scheduler: new Scheduler(redis, prefix),
    apiKeys: [],
    hooks: {},
    replyTimeoutMs: 60_000,
    maxBodyBytes: 1_048_576,
    modelName: 'm',
    readiness: {},
    isAccepting: () => true,
  });
  const serverSockets: Socket[] = [];
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.on('connection', (socket) => serverSockets.push(socket));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await turns.queue.obliterate({ force: true });
    await hub.close();
    await turns.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    subscriber.disconnect();
    redis.disconnect();
  });
  const port = (server.address() as AddressInfo).port;
  return { port, hub, store, serverSockets };
}

describe('SSE events: a client that stops reading', () => {
  it('does not buffer an unbounded backlog in the web process for a client that does not read', async () => {
    const app = await startApp();
    const client = connect(app.port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('GET /v1/sessions/stalled/events HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => client.once('data', resolve)); // the head and `retry:` are out
    client.pause(); // from now on the client reads nothing (the connection stays open)
    await waitFor(() => app.hub.size === 1, { message: 'the SSE subscription' });

    const key = webSessionKey('local', 'stalled');
    const chunk = 'x'.repeat(1024 * 1024); // 1 MiB per event (a long streamed answer arrives as many such deltas)
    const EVENTS = 48;
    for (let i = 0; i < EVENTS; i++) await app.store.appendEvent(key, { type: 'delta', turnId: 't1', text: chunk });

    const server = () => app.serverSockets.find((s) => !s.destroyed);
    let buffered = 0;
    // Wait until the hub has handed every event to the route (the kernel's socket buffers take a few MiB at most).
    await waitFor(() => {
      buffered = server()?.writableLength ?? 0;
      return buffered > 32 * 1024 * 1024 || server() === undefined;
    }, { timeoutMs: 20_000 }).catch(() => undefined);
    const MiB = Math.round(buffered / 1024 / 1024);
    // Before the fix ~40+ MiB sit in the server socket's write buffer (one more MiB per event) and the connection stays open.
    expect(MiB, `${MiB} MiB of ${EVENTS} MiB of events buffered in the web process for a client that reads nothing`).toBeLessThanOrEqual(8);
    expect(server(), 'the stalled SSE connection is still open').toBeUndefined();
  });
});
