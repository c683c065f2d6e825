import type { Logger } from '@switchboard/observability';
import type { EarlyWorker } from './early-worker.ts';

/** Result of one query: the rows of the (last) statement, already parsed to JS values. */
export interface QueryResult<R> {
  rows: R[];
}

/**
 * Something that runs SQL: a whole database or one open transaction.
 *
 * With `params` (non-empty) the SQL must be one statement; `$1..$n` are bound through the extended
 * protocol. Without `params` (or with `[]`) the SQL runs through the simple protocol and may hold
 * several `;`-separated statements; the rows of the last one are returned. Both backends behave the
 * same way here (node-postgres does this natively; the PGlite adapter mirrors it).
 *
 * Parameter rules that hold on both backends: pass json/jsonb values as `JSON.stringify(value)`,
 * vectors as {@link toVectorLiteral}`(numbers)`, timestamps as `Date`, int8 as number or bigint.
 * Column value mapping is documented on {@link openDatabase}.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** One database connection (a pg pool, or one in-process PGlite). */
export interface Db extends Queryable {
  /** `pg` when connected over the wire (real Postgres or the embedded server), `pglite` in-process. */
  readonly kind: 'pg' | 'pglite';
  /**
   * Runs `fn` in one transaction (BEGIN/COMMIT, ROLLBACK on throw) and returns its result.
   * Inside `fn` use only `tx`: calling this `Db` (query or a nested transaction) from within `fn`
   * throws `handler_error`, because on PGlite and on the embedded server it would wait forever
   * for the transaction that is waiting for it.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves if the database answers `select 1`. */
  ping(): Promise<void>;
  /** Closes the pool or shuts PGlite down cleanly (checkpoint) and releases the data dir. */
  close(): Promise<void>;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * `postgres://…` URL. When set, the `pg` backend is used (real Postgres with pgvector, or the
   * embedded server of `npm run db:embedded`) and `dataDir` is ignored.
   */
  databaseUrl?: string;
  /**
   * PGlite data directory (the Postgres data dir itself, e.g. `<DATA_DIR>/pglite`; see
   * {@link embeddedDataDir}). Created from the pre-built snapshot when missing or empty. When
   * unset (and no `databaseUrl`), an ephemeral database is created in a private temp directory and
   * deleted on `close()`: meant for tests.
   */
  dataDir?: string;
  /** Most pooled connections for the `pg` backend. Default 10. */
  poolSize?: number;
  /** How long the `pg` backend keeps retrying the first connection, in milliseconds. Default 10000. */
  connectTimeoutMs?: number;
  /** Where the PGlite snapshot is cached. Default `node_modules/.cache/switchboard-store`. */
  templateCacheDir?: string;
  /**
   * Run PGlite in a `node:worker_threads` Worker instead of on the calling thread, so Postgres'
   * WebAssembly never blocks the caller's event loop (HTTP, Redis, BullMQ keep being served while a
   * query runs). Same `Db` behaviour either way. Ignored with `databaseUrl`. Default false: the worker costs ~14 MiB more RSS (a second V8 isolate).
   */
  thread?: boolean;
  /**
   * Called once the embedded engine has what it needs to start on its own (with `thread`, once
   * the worker knows its data dir): a caller with heavy synchronous work of its own (importing
   * modules) can wait for this, so that work does not hold up the start. Called at once otherwise.
   */
  onStarting?: () => void;
  /**
   * A PGlite worker thread the caller started earlier (`@switchboard/store/early-worker`), already
   * loading PGlite while the caller imported the rest. Used with `thread`; discarded otherwise
   * (`databaseUrl` set, or `thread` false), and on any failure to open.
   */
  earlyWorker?: EarlyWorker;
  /** PGlite `shared_buffers` in megabytes; startup time and resident memory grow with it (~4 ms/MB). Default 8. */
  sharedBuffersMb?: number;
  /**
   * Let V8 optimise PGlite's WebAssembly with TurboFan. Process-wide; default false: optimising
   * Postgres' largest function costs ~2 s of CPU and a transient ~600 MB a few seconds after start
   * (see `setWasmTierUp`).
   */
  wasmTierUp?: boolean;
  /** Receives migration and connection logs. Default: silent. */
  logger?: Logger;
}
