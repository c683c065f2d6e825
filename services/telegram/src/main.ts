import express from 'express';
import { createLogger, createOpsHandler, createRegistry, onShutdown } from '@switchboard/observability';
import { loadTelegramConfig, startTelegramService } from './service.ts';

const config = loadTelegramConfig();
const logger = createLogger({ service: 'telegram', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the telegram service runs on its own');
  process.exit(2);
}
const registry = createRegistry();
const telegram = await startTelegramService({ config, logger, registry, redisUrl: config.REDIS_URL });
if (!telegram) {
  // Nothing to do without a token; exit cleanly so an orchestrator does not restart-loop.
  process.exit(0);
}
let accepting = true;
const ops = createOpsHandler({ registry, readiness: telegram.readiness, isAccepting: () => accepting });
const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  ops(req, res).then((handled) => {
    if (!handled) next();
  }, next);
});
app.use(telegram.router);
app.use((_req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
});
const server = app.listen(config.PORT, config.HOST, () => logger.info({ port: config.PORT }, 'telegram service listening'));
onShutdown(logger, [
  ['stop accepting', async () => {
    accepting = false;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }],
  ['close telegram service', () => telegram.close()],
]);
