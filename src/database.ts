import { join, resolve } from 'node:path';
import type { Logger } from '@switchboard/observability';
import { openDatabase, type Db, type OpenDatabaseOptions } from '@switchboard/store';
import type { AllInOneConfig } from './config.ts';

/**
 * The one-process system's database: Postgres at DATABASE_URL, else embedded PGlite in
 * `<DATA_DIR>/pglite`, run in a worker thread so queries never block the event loop that serves
 * HTTP and queues. Kept apart from `system.ts` so that `main.ts` can start opening it (on the
 * other core) before it imports the services.
 */
export function openSystemDatabase(
  config: AllInOneConfig,
  logger: Logger,
  start: Pick<OpenDatabaseOptions, 'onStarting' | 'earlyWorker'> = {},
): Promise<Db> {
  return openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: join(resolve(config.dataDir), 'pglite'),
    logger,
    thread: true,
    ...start,
  });
}
