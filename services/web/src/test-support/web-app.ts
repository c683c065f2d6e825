import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createRedis, EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { Scheduler } from '@switchboard/scheduler';
import { uniquePrefix } from '@switchboard/testkit';
import { ApprovalBoard } from '@switchboard/tools';
import { createWebApp } from '../app.ts';
import type { HookConfig } from '../config.ts';
import { QueueInspector } from '../routes/admin-queues.ts';

export interface TestWebAppOptions {
  /** Wraps the real ingress (to see or fail what is submitted). */
  ingress?: (real: LaneIngress) => LaneIngress;
  /** The event hub's subscriptions fail (Redis down for them). */
  subscribeFails?: boolean;
  hooks?: HookConfig;
}

/**
 * The web app alone on the test Redis under a prefix of its own, listening on a loopback port.
 * `close` ends its connections and removes what it wrote.
 */
export async function startTestWebApp(redisUrl: string, opts: TestWebAppOptions = {}) {
  const logger = createLogger({ service: 'test', level: 'silent' });
  const prefix = uniquePrefix('webapp');
  const redis = createRedis(redisUrl, 'test');
  const subscriber = createRedis(redisUrl, 'test-sub');
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const hub = new EventHub(subscriber, store, logger);
  if (opts.subscribeFails) hub.subscribe = () => Promise.reject(new Error('redis down'));
  const real = new LaneIngress(store, turns, registry);
  const app = createWebApp({
    logger,
    registry,
    ingress: opts.ingress ? opts.ingress(real) : real,
    store,
    hub,
    turns,
    approvals: new ApprovalBoard(redis, prefix),
    queues: new QueueInspector(redis, prefix),
    scheduler: new Scheduler(redis, prefix),
    apiKeys: [],
    hooks: opts.hooks ?? {},
    replyTimeoutMs: 60_000,
    maxBodyBytes: 1_048_576,
    modelName: 'm',
    readiness: {},
    isAccepting: () => true,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await turns.queue.obliterate({ force: true });
    await hub.close();
    await turns.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    subscriber.disconnect();
    redis.disconnect();
  };
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, server, hub, store, redis, registry, close };
}
