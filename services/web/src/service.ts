import type { Server } from 'node:http';
import type { RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { createRedis, EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createScheduleWorker, Scheduler } from '@switchboard/scheduler';
import { ApprovalBoard } from '@switchboard/tools';
import type { Logger, ReadinessCheck } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { createWebApp } from './app.ts';
import type { WebConfig } from './config.ts';
import { QueueInspector } from './routes/admin-queues.ts';

export { loadWebConfig, WebEnv } from './config.ts';
export { HOOK_SIGNATURE_TOLERANCE_SECONDS, hookSignature } from './routes/hooks.ts';
export type { WebConfig } from './config.ts';

export interface WebServiceDeps {
  config: WebConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
  /**
   * The database (sessions, transcripts, approvals) for the operator console; `/readyz` then
   * checks it too. Without it the console's session and approval views answer 503.
   */
  db?: Db;
  /** More readiness checks (the database, in the one-process system). */
  readiness?: Record<string, ReadinessCheck>;
  extraRouters?: RequestHandler[];
}

export interface WebService {
  server: Server;
  /** The URL the server listens on, for logs and tests. */
  url: string;
  close(): Promise<void>;
}

/** Starts the web service: HTTP API, SSE, chat page and ops routes on `config.PORT`. */
export async function startWebService(deps: WebServiceDeps): Promise<WebService> {
  const { config, logger } = deps;
  const prefix = config.SWITCHBOARD_PREFIX;
  const redis = createRedis(deps.redisUrl, 'web', { autoPipelining: true });
  const subscriber = createRedis(deps.redisUrl, 'web-events');
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const ingress = new LaneIngress(store, turns, deps.registry);
  const hub = new EventHub(subscriber, store, logger);
  const scheduler = new Scheduler(redis, prefix, { perConversation: config.SCHEDULES_MAX_PER_CONVERSATION, perAccount: config.SCHEDULES_MAX_PER_ACCOUNT });
  // In the background: a big Redis takes a while to walk, and a failure is tried again at the next start.
  void scheduler.indexConversations().then(
    (indexed) => indexed > 0 && logger.info({ schedules: indexed }, 'noted earlier schedules in their conversations (for SCHEDULES_MAX_PER_CONVERSATION)'),
    (err: unknown) => logger.warn({ err }, 'could not note earlier schedules in their conversations; trying again at the next start'),
  );
  // Every web replica runs a schedule worker: BullMQ hands each firing to one of them, and the
  // ingress dedupe key (schedule id + firing time) makes a redelivered firing a no-op.
  const scheduleConnection = createRedis(deps.redisUrl, 'web-schedules');
  const scheduleWorker = createScheduleWorker({ connection: scheduleConnection, prefix, scheduler, ingress, logger: logger.child({ queue: 'schedules' }), registry: deps.registry, staleGraceMs: config.SCHEDULE_MISSED_GRACE_MS });
  const queues = new QueueInspector(redis, prefix);
  const db = deps.db;
  let accepting = true;
  const app = createWebApp({
    logger,
    registry: deps.registry,
    ingress,
    store,
    hub,
    turns,
    approvals: new ApprovalBoard(redis, prefix),
    db,
    queues,
    scheduler,
    apiKeys: config.SWITCHBOARD_API_KEYS,
    adminKeys: config.SWITCHBOARD_ADMIN_KEYS,
    hooks: config.HOOKS,
    replyTimeoutMs: config.REPLY_TIMEOUT_MS,
    maxBodyBytes: config.MAX_BODY_BYTES,
    modelName: config.LLM_MODEL ?? 'switchboard',
    readiness: {
      redis: async () => {
        await redis.ping();
      },
      ...(db ? { database: () => db.ping() } : {}),
      ...deps.readiness,
    },
    isAccepting: () => accepting,
    ...(deps.extraRouters ? { extraRouters: deps.extraRouters } : {}),
  });
  const server = app.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  // Long-lived SSE responses must not be cut by the default request timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const url = `http://${host}:${port}`;
  logger.info({ url, auth: config.SWITCHBOARD_API_KEYS.length > 0 ? 'bearer keys' : 'loopback only' }, 'web service listening');
  return {
    server,
    url,
    async close() {
      accepting = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open SSE streams would keep close() waiting forever; their clients reconnect elsewhere.
        server.closeAllConnections();
      });
      await scheduleWorker.close();
      await queues.close();
      await scheduler.close();
      scheduleConnection.disconnect();
      await hub.close();
      await turns.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
