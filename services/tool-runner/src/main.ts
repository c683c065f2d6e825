import { configOrExit, createLogger, createRegistry, onShutdown, startOpsServer } from '@switchboard/observability';
import { collectStartupGarbageSoon, openDatabase } from '@switchboard/store';
import { createToolRunner, loadToolRunnerConfig } from './service.ts';

const config = configOrExit('tool-runner', () => loadToolRunnerConfig());
const logger = createLogger({ service: 'tool-runner', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the tool runner runs on its own');
  process.exit(2);
}
const registry = createRegistry();
// The memory tools need the database; without DATABASE_URL they are off (logged) and the rest runs.
const db = config.DATABASE_URL ? await openDatabase({ databaseUrl: config.DATABASE_URL, logger }) : undefined;
const service = await createToolRunner({ config, logger, registry, redisUrl: config.REDIS_URL, ...(db ? { db } : {}) });
let accepting = true;
const ops = await startOpsServer({ port: config.PORT, registry, readiness: service.readiness, isAccepting: () => accepting });
logger.info({ port: config.PORT }, 'tool-runner ops server listening');
// What loading and wiring the modules left behind would otherwise stay resident until V8 sees the process idle.
collectStartupGarbageSoon((ms) => logger.debug({ ms: Math.round(ms) }, 'collected start-up garbage'));
onShutdown(logger, [
  ['stop accepting', async () => void (accepting = false)],
  ['finish tool runs', () => service.close()],
  ['close database', async () => void (await db?.close())],
  ['close ops server', async () => void ops.close()],
]);
