import { createLogger, createRegistry, onShutdown, startOpsServer } from '@switchboard/observability';
import { createToolRunner, loadToolRunnerConfig } from './service.ts';

const config = loadToolRunnerConfig();
const logger = createLogger({ service: 'tool-runner', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the tool runner runs on its own');
  process.exit(2);
}
const registry = createRegistry();
const service = await createToolRunner({ config, logger, registry, redisUrl: config.REDIS_URL });
let accepting = true;
const ops = await startOpsServer({ port: config.PORT, registry, readiness: service.readiness, isAccepting: () => accepting });
logger.info({ port: config.PORT }, 'tool-runner ops server listening');
onShutdown(logger, [
  ['stop accepting', async () => void (accepting = false)],
  ['finish tool runs', () => service.close()],
  ['close ops server', async () => void ops.close()],
]);
