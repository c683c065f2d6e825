import express from 'express';
import { createLogger, createOpsHandler, createRegistry, onShutdown } from '@switchboard/observability';
import { loadSlackConfig, startSlackService } from './service.ts';

const config = loadSlackConfig();
const logger = createLogger({ service: 'slack', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the slack service runs on its own');
  process.exit(2);
}
const registry = createRegistry();
const slack = await startSlackService({ config, logger, registry, redisUrl: config.REDIS_URL });
if (!slack) {
  // Nothing to do without a token; exit cleanly so an orchestrator does not restart-loop.
  process.exit(0);
}
let accepting = true;
const ops = createOpsHandler({ registry, readiness: slack.readiness, isAccepting: () => accepting });
const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  ops(req, res).then((handled) => {
    if (!handled) next();
  }, next);
});
app.use(slack.router);
app.use((_req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
});
const server = app.listen(config.PORT, config.HOST, () => logger.info({ port: config.PORT, mode: slack.mode }, 'slack service listening'));
onShutdown(logger, [
  ['stop accepting', async () => {
    accepting = false;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }],
  ['close slack service', () => slack.close()],
]);
