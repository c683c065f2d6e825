import express, { type Router } from 'express';
import type { Registry } from 'prom-client';
import { createLogger, createOpsHandler, createRegistry, jsonErrorHandler, onShutdown, writeError, type Logger, type ReadinessCheck } from '@switchboard/observability';

/** What a channel service gives its standalone runner. */
export interface StandaloneChannel {
  router: Router;
  readiness: Record<string, ReadinessCheck>;
  close(): Promise<void>;
}

export interface StandaloneOptions<C, S extends StandaloneChannel> {
  /** `telegram`, `slack`, ...: the logger's service name and the log lines. */
  name: string;
  config: C & { LOG_LEVEL: string; REDIS_URL?: string | undefined; PORT: number; HOST: string };
  start(deps: { config: C; logger: Logger; registry: Registry; redisUrl: string }): Promise<S | undefined>;
  /** Extra fields for the "listening" log line. */
  describe?(service: S): Record<string, unknown>;
}

/**
 * `services/<platform>/src/main.ts`: runs one channel service on its own port with /healthz,
 * /readyz and /metrics, its webhook and admin routes, and a graceful shutdown (stop accepting,
 * then close the service). Exits 0 without a token (nothing to do, no restart loop) and 2 without
 * REDIS_URL.
 */
export async function runChannelStandalone<C, S extends StandaloneChannel>(opts: StandaloneOptions<C, S>): Promise<void> {
  const { config, name } = opts;
  const logger = createLogger({ service: name, level: config.LOG_LEVEL });
  if (!config.REDIS_URL) {
    logger.fatal(`REDIS_URL is required when the ${name} service runs on its own`);
    process.exit(2);
  }
  const registry = createRegistry();
  const service = await opts.start({ config, logger, registry, redisUrl: config.REDIS_URL });
  if (!service) process.exit(0);
  let accepting = true;
  const ops = createOpsHandler({ registry, readiness: service.readiness, isAccepting: () => accepting });
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    ops(req, res).then((handled) => {
      if (!handled) next();
    }, next);
  });
  app.use(service.router);
  app.use((_req, res) => writeError(res, 404, 'not_found', 'no such route'));
  app.use(jsonErrorHandler(logger));
  const server = app.listen(config.PORT, config.HOST, () => logger.info({ port: config.PORT, ...opts.describe?.(service) }, `${name} service listening`));
  onShutdown(logger, [
    ['stop accepting', async () => {
      accepting = false;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }],
    [`close ${name} service`, () => service.close()],
  ]);
}
