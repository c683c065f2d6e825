import { configOrExit, createLogger, createRegistry, onShutdown } from '@switchboard/observability';
import { collectStartupGarbageSoon, openDatabase } from '@switchboard/store';
import { loadWebConfig, startWebService } from './service.ts';

const config = configOrExit('web', () => loadWebConfig());
const logger = createLogger({ service: 'web', level: config.LOG_LEVEL });
if (!config.REDIS_URL) {
  logger.fatal('REDIS_URL is required when the web service runs on its own');
  process.exit(2);
}
// The database is optional for the web service: the API, SSE and webhooks only need Redis. With
// DATABASE_URL the operator console can list sessions, transcripts and approvals, and /readyz
// checks the database as well.
const db = config.DATABASE_URL ? await openDatabase({ databaseUrl: config.DATABASE_URL, logger }) : undefined;
if (!db) logger.warn('DATABASE_URL is not set: the operator console cannot show sessions, transcripts or approvals');
const registry = createRegistry();
const web = await startWebService({ config, logger, registry, redisUrl: config.REDIS_URL, ...(db ? { db } : {}) });
// What loading and wiring the modules left behind would otherwise stay resident until V8 sees the process idle.
collectStartupGarbageSoon((ms) => logger.debug({ ms: Math.round(ms) }, 'collected start-up garbage'));
onShutdown(logger, [
  ['close web service', () => web.close()],
  ...(db ? [['close database', () => db.close()] as [string, () => Promise<void>]] : []),
]);
