import express from 'express';
import { createLogger, createOpsHandler, createRegistry, onShutdown } from '@switchboard/observability';
import { loadDiscordConfig, startDiscordService } from './service.ts';

const config = loadDiscordConfig();
const logger = createLogger({ service: 'discord', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the discord service runs on its own');
  process.exit(2);
}
const registry = createRegistry();
const discord = await startDiscordService({ config, logger, registry, redisUrl: config.REDIS_URL });
if (!discord) {
  // Nothing to do without a token; exit cleanly so an orchestrator does not restart-loop.
  process.exit(0);
}
let accepting = true;
const ops = createOpsHandler({ registry, readiness: discord.readiness, isAccepting: () => accepting });
const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  ops(req, res).then((handled) => {
    if (!handled) next();
  }, next);
});
app.use(discord.router);
app.use((_req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
});
const server = app.listen(config.PORT, config.HOST, () => logger.info({ port: config.PORT }, 'discord service listening'));
onShutdown(logger, [
  ['stop accepting', async () => {
    accepting = false;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }],
  ['close discord service', () => discord.close()],
]);
