import type { Logger } from '@switchboard/observability';
import { createLogger } from '@switchboard/observability';
import { prepareEphemeralDir, preparePersistentDir, type PreparedDataDir } from './data-dir.ts';
import { runMigrations } from './migrations.ts';
import { PgliteDatabase } from './pglite-database.ts';
import { EarlyWorker } from './early-worker.ts';
import { ThreadedPgliteDatabase } from './threaded-pglite-database.ts';
import { createPglite } from './pglite-runtime.ts';
import { ensureTemplate } from './template-cache.ts';
import type { Db, OpenDatabaseOptions } from './types.ts';

function silentLogger(): Logger {
  return createLogger({ service: 'store', level: 'silent' });
}

type PgliteOpenOptions = Pick<OpenDatabaseOptions, 'dataDir' | 'templateCacheDir' | 'sharedBuffersMb' | 'wasmTierUp' | 'onStarting' | 'earlyWorker'> & {
  logger: Logger;
};

/** Fills an empty (or ephemeral) data dir from the migrated snapshot and locks it for this process. */
async function prepareDataDir(opts: PgliteOpenOptions): Promise<PreparedDataDir> {
  const template = () =>
    ensureTemplate({
      logger: opts.logger,
      ...(opts.templateCacheDir ? { cacheDir: opts.templateCacheDir } : {}),
    });
  return opts.dataDir === undefined ? prepareEphemeralDir(template) : preparePersistentDir(opts.dataDir, template);
}

/**
 * Opens PGlite on `dataDir` (or an ephemeral dir), filling an empty dir from the migrated
 * snapshot, and applies any newer migrations. With `thread`, PGlite runs in a worker thread
 * ({@link ThreadedPgliteDatabase}); else on the calling thread ({@link PgliteDatabase}, which the
 * embedded server needs for raw protocol access).
 */
export async function openPgliteDatabase(opts: PgliteOpenOptions & { thread?: false }): Promise<PgliteDatabase>;
export async function openPgliteDatabase(opts: PgliteOpenOptions & { thread: true }): Promise<ThreadedPgliteDatabase>;
export async function openPgliteDatabase(
  opts: PgliteOpenOptions & { thread?: boolean },
): Promise<PgliteDatabase | ThreadedPgliteDatabase>;
export async function openPgliteDatabase(
  opts: PgliteOpenOptions & { thread?: boolean },
): Promise<PgliteDatabase | ThreadedPgliteDatabase> {
  const t0 = performance.now();
  // The worker boots (Node, PGlite's modules, its WebAssembly) while the data dir is prepared.
  const early = opts.thread ? (opts.earlyWorker ?? new EarlyWorker()) : undefined;
  if (!opts.thread) void opts.earlyWorker?.discard();
  let prepared: PreparedDataDir;
  try {
    prepared = await prepareDataDir(opts);
  } catch (err) {
    await early?.discard();
    throw err;
  }
  const t1 = performance.now();
  const engine = {
    dataDir: prepared.dir,
    wasmTierUp: opts.wasmTierUp ?? false,
    ...(opts.sharedBuffersMb ? { sharedBuffersMb: opts.sharedBuffersMb } : {}),
  };
  let db: PgliteDatabase | ThreadedPgliteDatabase | undefined;
  try {
    if (opts.thread) {
      const starting = ThreadedPgliteDatabase.start(engine, prepared.release, opts.logger, early);
      opts.onStarting?.(); // the worker has its data dir (posted as `start` began)
      db = await starting;
    } else {
      opts.onStarting?.();
      db = new PgliteDatabase(await createPglite(engine), prepared.release);
    }
    const t2 = performance.now();
    // A dir just filled from the snapshot holds exactly these migrations: the snapshot's cache key
    // is their fingerprint (templateKey). Checking again would cost five round trips at every first start.
    if (!prepared.fresh) await runMigrations(db, opts.logger);
    await db.loadTypes();
    const t3 = performance.now();
    opts.logger.info(
      {
        dataDir: opts.dataDir === undefined ? '(ephemeral)' : prepared.dir,
        thread: opts.thread === true,
        fromSnapshot: prepared.fresh,
        prepareMs: Math.round(t1 - t0),
        startMs: Math.round(t2 - t1),
        migrateMs: Math.round(t3 - t2),
      },
      'PGlite database open',
    );
    return db;
  } catch (err) {
    if (db) await db.close().catch(() => {});
    else await prepared.release();
    throw err;
  }
}

/**
 * Opens the database and applies pending migrations before resolving.
 *
 * - `databaseUrl` set → node-postgres pool (`kind: 'pg'`); the first connection is retried for
 *   `connectTimeoutMs` (default 10 s), then it fails with `remote_unreachable` (retryable).
 * - else → PGlite with pgvector (`kind: 'pglite'`) on `dataDir`, or on an ephemeral copy deleted
 *   on close when `dataDir` is unset. An empty `dataDir` is filled from a pre-built, migrated
 *   snapshot (~0.3 s instead of a multi-second initdb). A `dataDir` used by another process (or
 *   another open database of this one) fails with `config_error`. PGlite runs on the calling
 *   thread, or with `thread: true` in a worker thread so that it never blocks the caller's event
 *   loop (same behaviour; see `ThreadedPgliteDatabase`).
 *
 * Both backends map column types the same way (see `type-parsers.ts`): int8 → number (bigint
 * beyond 2^53), numeric → string, timestamptz/timestamp → Date, date/time/interval → string,
 * json/jsonb → parsed, bytea → Buffer, vector → number[], arrays → JS arrays, others → string.
 * Query errors are the driver's error with `code` = SQLSTATE on both (see {@link sqlState}).
 */
export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Db> {
  const logger = opts.logger ?? silentLogger();
  if (opts.databaseUrl) {
    void opts.earlyWorker?.discard();
    opts.onStarting?.();
    // node-postgres is loaded only when it is used: the embedded default never needs it.
    const { PgDatabase } = await import('./pg-database.ts');
    const db = new PgDatabase({ databaseUrl: opts.databaseUrl, poolSize: opts.poolSize ?? 10, logger });
    try {
      await db.connect(opts.connectTimeoutMs ?? 10_000);
      await runMigrations(db, logger);
      await db.loadTypes();
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return db;
  }
  return openPgliteDatabase({ ...opts, thread: opts.thread ?? false, logger });
}
