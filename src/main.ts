import { createLogger, onShutdown } from '@switchboard/observability';
import { loadAllInOneConfig, processEnv } from './config.ts';
import { startSystem } from './system.ts';

const logger = createLogger({ service: 'switchboard', level: loadAllInOneConfig(processEnv).LOG_LEVEL });
try {
  const system = await startSystem(processEnv, { logger });
  onShutdown(logger, [['stop the system', () => system.close()]]);
} catch (err) {
  logger.fatal({ err: { message: (err as Error).message } }, `Switchboard could not start: ${(err as Error).message}`);
  process.exit(1);
}
