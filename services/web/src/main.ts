import { createLogger, createRegistry, onShutdown } from '@switchboard/observability';
import { loadWebConfig, startWebService } from './service.ts';

const config = loadWebConfig();
const logger = createLogger({ service: 'web', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the web service runs on its own');
  process.exit(2);
}
const registry = createRegistry();
const web = await startWebService({ config, logger, registry, redisUrl: config.REDIS_URL });
onShutdown(logger, [['close web service', () => web.close()]]);
