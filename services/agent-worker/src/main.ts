import { configOrExit, createLogger, createRegistry, onShutdown, startOpsServer } from '@switchboard/observability';
import { collectStartupGarbageSoon, openDatabase } from '@switchboard/store';
import { createAgentWorker, loadAgentWorkerConfig } from './service.ts';

const config = configOrExit('agent-worker', () => loadAgentWorkerConfig());
const logger = createLogger({ service: 'agent-worker', level: config.LOG_LEVEL });
if (!config.REDIS_URL || !config.DATABASE_URL) {
  // Separate processes cannot share an in-process database: use Postgres, or `npm run db:embedded`.
  logger.fatal('REDIS_URL and DATABASE_URL are required when the agent worker runs on its own (npm run db:embedded serves the embedded database)');
  process.exit(2);
}
const registry = createRegistry();
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, logger });
const service = await createAgentWorker({ config, logger, registry, db, redisUrl: config.REDIS_URL });
let accepting = true;
const ops = await startOpsServer({ port: config.PORT, registry, readiness: service.readiness, isAccepting: () => accepting });
logger.info({ port: config.PORT }, 'agent-worker ops server listening');
// What loading and wiring the modules left behind would otherwise stay resident until V8 sees the process idle.
collectStartupGarbageSoon((ms) => logger.debug({ ms: Math.round(ms) }, 'collected start-up garbage'));
onShutdown(logger, [
  ['stop accepting', async () => void (accepting = false)],
  ['finish turns', () => service.close()],
  ['close database', () => db.close()],
  ['close ops server', async () => void ops.close()],
]);
