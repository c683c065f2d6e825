import { fileURLToPath } from 'node:url';
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import type { Scheduler } from '@switchboard/scheduler';
import type { Db } from '@switchboard/store';
import type { ApprovalBoard } from '@switchboard/tools';
import { counter, createOpsHandler, gauge, histogram, jsonErrorHandler, LATENCY_BUCKETS_SECONDS, type Logger, type ReadinessCheck } from '@switchboard/observability';
import { apiAuth } from './auth.ts';
import type { HookConfig } from './config.ts';
import { sendError } from './http-errors.ts';
import { adminRouter } from './routes/admin.ts';
import { consoleRouter } from './routes/admin-console.ts';
import type { QueueInspector } from './routes/admin-queues.ts';
import { approvalsRouter } from './routes/approvals.ts';
import { chatCompletionsRouter } from './routes/chat-completions.ts';
import { eventsRouter } from './routes/events.ts';
import { hooksRouter } from './routes/hooks.ts';
import { messagesRouter } from './routes/messages.ts';
import { schedulesRouter } from './routes/schedules.ts';
import { userDataRouter } from './routes/user-data.ts';

export interface WebAppDeps {
  logger: Logger;
  registry: Registry;
  ingress: LaneIngress;
  store: LaneStore;
  hub: EventHub;
  turns: TurnQueue;
  approvals: ApprovalBoard;
  /** Sessions, transcripts and parked approvals for the operator console (absent: those endpoints answer 503). */
  db?: Db | undefined;
  /** BullMQ queue depths, failed jobs and retries for the operator console. */
  queues: QueueInspector;
  /** Schedules behind `/v1/schedules`. */
  scheduler: Scheduler;
  apiKeys: string[];
  /** Operator keys (see SWITCHBOARD_ADMIN_KEYS). */
  adminKeys?: string[];
  hooks: HookConfig;
  replyTimeoutMs: number;
  maxBodyBytes: number;
  modelName: string;
  readiness: Record<string, ReadinessCheck>;
  isAccepting: () => boolean;
  /** Extra routers mounted before the 404 handler (platform webhooks in the one-process system). */
  extraRouters?: RequestHandler[];
}

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** The web service's HTTP app: ops routes, the API behind bearer auth, and the chat page. */
export function createWebApp(deps: WebAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const requests = counter(deps.registry, { name: 'http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'] as const });
  const durations = histogram(deps.registry, { name: 'http_request_duration_seconds', help: 'HTTP request duration until the response ends', labelNames: ['route', 'method'] as const, buckets: LATENCY_BUCKETS_SECONDS });
  const sse = gauge(deps.registry, { name: 'sse_connections', help: 'Open Server-Sent Events connections' });

  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? (res.statusCode === 404 ? 'unmatched' : req.path.startsWith('/v1/') ? 'v1' : 'other');
      requests.inc({ route, method: req.method, status: String(res.statusCode) });
      durations.observe({ route, method: req.method }, (performance.now() - started) / 1000);
    });
    next();
  });

  const ops = createOpsHandler({ registry: deps.registry, readiness: deps.readiness, isAccepting: deps.isAccepting });
  app.use((req, res, next) => {
    ops(req, res).then((handled) => (handled ? undefined : next()), next);
  });

  for (const router of deps.extraRouters ?? []) app.use(router);
  // Hooks carry their own secret instead of an API key, so they sit before the API's auth.
  app.use(hooksRouter(deps.hooks, deps.ingress, deps.maxBodyBytes, { audit: deps.scheduler.runs, registry: deps.registry }));

  app.use('/v1', apiAuth(deps.apiKeys, deps.adminKeys ?? []));
  app.use('/v1', express.json({ limit: deps.maxBodyBytes }));
  // A body the JSON parser left alone (no or another content-type) would fail validation as
  // "expected object, received undefined": say what is wrong instead.
  app.use('/v1', (req, res, next) => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (req.body === undefined && hasBody) return sendError(res, 415, 'unsupported_media_type', 'send the body as JSON, with content-type: application/json');
    next();
  });
  // The routes every message takes first: a request walks the routers in this order.
  app.use(chatCompletionsRouter({ ingress: deps.ingress, hub: deps.hub, replyTimeoutMs: deps.replyTimeoutMs, modelName: deps.modelName }));
  app.use(messagesRouter(deps.ingress));
  app.use(eventsRouter(deps.hub, deps.store, sse));
  app.use(approvalsRouter(deps.approvals, deps.turns));
  app.use(schedulesRouter(deps.scheduler));
  app.use(userDataRouter(deps.db, deps.store, deps.logger));
  app.use(adminRouter({ db: deps.db, approvals: deps.approvals, queues: deps.queues, logger: deps.logger, registry: deps.registry }));
  app.use(consoleRouter());
  app.use(express.static(PUBLIC_DIR, { index: 'index.html' }));

  app.use((_req, res) => sendError(res, 404, 'not_found', 'no such route'));
  app.use(jsonErrorHandler(deps.logger));
  return app;
}
