import { createServer, type Server, type ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { createRedis, EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createScheduleWorker, Scheduler } from '@switchboard/scheduler';
import { ApprovalBoard } from '@switchboard/tools';
import { writeError, type Logger, type ReadinessCheck } from '@switchboard/observability';
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
  /**
   * Stops taking requests, ends SSE streams (their clients reconnect elsewhere with Last-Event-ID),
   * waits up to `drainMs` (default {@link DEFAULT_DRAIN_MS}) for the requests under way (a chat
   * completion waiting for its answer) to be answered, then closes what is left.
   */
  close(opts?: { drainMs?: number }): Promise<void>;
}

/**
 * How long closing waits for the requests under way: below the 25 s shutdown deadline, leaving
 * time for the rest of the shutdown.
 */
export const DEFAULT_DRAIN_MS = 15_000;

/** What a closing replica still answers on a connection kept from before (see startWebService). */
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

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
  // Requests under way, so closing can let them finish (see close()).
  const inFlight = new Set<ServerResponse>();
  let onSettled: (() => void) | undefined;
  // A closing replica keeps no connection alive, and takes no new request but the ops probes on
  // one kept from before: a chat completion taken now could be cut at the end of the drain (and
  // its retry answered twice). Refused with nothing enqueued, the client tries another replica.
  const server = createServer((req, res) => {
    if (!accepting) {
      res.shouldKeepAlive = false;
      if (!OPS_PATHS.has((req.url ?? '').split('?')[0]!)) return writeError(res, 503, 'unavailable', 'this replica is shutting down; try again');
    }
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      onSettled?.();
    });
    app(req, res);
  });
  server.listen(config.PORT, config.HOST);
  /** An SSE stream of session events (see the events route): it never finishes by itself. */
  const isEventStream = (res: ServerResponse) => (res as ServerResponse & { locals?: { eventStream?: boolean } }).locals?.eventStream === true;
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
  // An IPv6 address goes in brackets in a URL (`http://[::1]:8080`).
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // Operator keys are bearer keys too: with any key set, the API wants one (see apiAuth).
  const anyKeys = config.SWITCHBOARD_API_KEYS.length + config.SWITCHBOARD_ADMIN_KEYS.length > 0;
  logger.info({ url, auth: anyKeys ? 'bearer keys' : 'loopback only' }, 'web service listening');
  return {
    server,
    url,
    async close(opts = {}) {
      accepting = false;
      // The connections of the requests under way close once they are answered.
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A chat completion under way has its message enqueued and its answer coming: cutting it
      // would lose the answer to the client (and a retry would have it answered twice). Open SSE
      // streams would keep close() waiting forever: they are cut (their clients reconnect elsewhere),
      // destroyed rather than ended, so a write their subscription makes later is a no-op, where one
      // after end() would be an 'error' event nobody listens to.
      const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
      await new Promise<void>((resolve) => {
        const check = () => {
          let waiting = 0;
          for (const res of inFlight) {
            if (isEventStream(res)) res.destroy();
            else waiting++;
          }
          if (waiting === 0) done();
        };
        // Also looked at now and then: a stream still being set up is marked a moment later.
        const poll = setInterval(check, 100);
        const timer = setTimeout(done, drainMs);
        function done() {
          clearInterval(poll);
          clearTimeout(timer);
          onSettled = undefined;
          resolve();
        }
        onSettled = check;
        check();
      });
      server.closeAllConnections();
      await closed;
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
