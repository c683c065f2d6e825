import type { HeapInfo } from 'node:v8';
import type { Worker } from 'node:worker_threads';
import type { Logger } from '@switchboard/observability';
import { SwitchboardError, type ErrorCode } from '@switchboard/contracts';
import { spawnWorker, type EarlyWorker } from './early-worker.ts';
import { assertNotInTransaction, runInTransaction } from './transaction-guard.ts';
import type { Db, Queryable, QueryResult } from './types.ts';
import {
  OPEN_REQUEST_ID,
  restoreBuffers,
  type SerializedError,
  type WorkerBoot,
  type WorkerInit,
  type WorkerRequest,
  type WorkerResponse,
} from './worker-protocol.ts';

/** How long `close()` waits for the worker to exit after PGlite closed before terminating it. */
const EXIT_TIMEOUT_MS = 10_000;

// `WorkerRequest` without its `id`, distributed over the union.
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(response: WorkerResponse): void;
  reject(err: Error): void;
}

/** Rebuilds an error from the worker: same class for SwitchboardError, same `code` and fields for the rest. */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause ? deserializeError(data.cause) : undefined;
  if (data.name === 'SwitchboardError' && typeof data.fields.code === 'string') {
    const err = new SwitchboardError(data.fields.code as ErrorCode, data.message, {
      retryable: data.fields.retryable === true,
      ...(typeof data.fields.status === 'number' ? { status: data.fields.status } : {}),
      ...(cause ? { cause } : {}),
    });
    if (data.stack) err.stack = data.stack;
    return err;
  }
  const err = new Error(data.message, cause ? { cause } : undefined);
  Object.assign(err, data.fields);
  err.name = data.name;
  if (data.stack) err.stack = data.stack;
  return err;
}

/**
 * A {@link Db} whose PGlite runs in a `node:worker_threads` Worker (`pglite-worker.ts`): queries
 * cost the main thread only a `postMessage` each way, and Postgres' WebAssembly executes on another
 * core. Same behaviour as {@link PgliteDatabase} (type mapping, simple vs extended protocol,
 * SQLSTATE `code` on errors, one session shared in call order). Differences: parameters and rows
 * are structured-cloned (parameters must be plain values: strings, numbers, bigint, booleans, null,
 * Date, Buffer/Uint8Array, arrays and plain objects), and every statement inside `transaction(fn)`
 * is a round trip to the worker while other callers wait for the session.
 *
 * The data dir is prepared and locked on the main thread (the pid lock is per process and its
 * book-keeping must stay in one thread); the worker only runs PGlite on it.
 */
export class ThreadedPgliteDatabase implements Db {
  readonly kind = 'pglite' as const;
  /** The PGlite data dir (the Postgres data dir itself). */
  readonly dataDir: string;
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<number>;
  readonly #release: () => Promise<void>;
  #released: Promise<void> | undefined;
  #nextId = OPEN_REQUEST_ID + 1;
  /** Set once the worker died: every later call fails with it. */
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  /** True once PGlite runs in the worker; before that a failed start leaves the release to the opener. */
  #started = false;

  private constructor(init: WorkerInit, release: () => Promise<void>, logger: Logger, early: Worker | undefined) {
    this.dataDir = init.dataDir;
    this.#release = release;
    this.#logger = logger;
    this.#worker = early ?? spawnWorker(init);
    if (early) early.postMessage({ op: 'init', init } satisfies WorkerBoot);
    this.#worker.on('message', (response: WorkerResponse) => this.#settle(response));
    this.#worker.on('error', (err) => {
      this.#fail(new SwitchboardError('handler_error', `PGlite worker failed: ${err.message}`, { cause: err }));
    });
    this.#worker.on('messageerror', (err) => this.#logger.error({ err }, 'PGlite worker sent a message that could not be read'));
    this.#exited = new Promise<number>((resolve) => {
      this.#worker.once('exit', (code) => {
        if (!this.#closing) this.#fail(new SwitchboardError('handler_error', `PGlite worker exited unexpectedly (code ${code})`));
        if (this.#started && !this.#closing) {
          void this.#releaseOnce().catch((err: unknown) => this.#logger.error({ err }, 'could not release the PGlite data dir'));
        }
        resolve(code);
      });
    });
  }

  /**
   * Starts the worker on a prepared data dir and resolves once PGlite runs there. `release` runs
   * after the worker has exited (unlocks the data dir, deletes an ephemeral one); when starting
   * fails, the worker has exited and releasing is left to the caller. Migrations and
   * {@link loadTypes} are the caller's next steps.
   */
  static async start(init: WorkerInit, release: () => Promise<void>, logger: Logger, early?: EarlyWorker): Promise<ThreadedPgliteDatabase> {
    const db = new ThreadedPgliteDatabase(init, release, logger, early?.worker);
    const opened = new Promise<WorkerResponse>((resolve, reject) => {
      db.#pending.set(OPEN_REQUEST_ID, { resolve, reject });
    });
    try {
      const response = await opened;
      if (response.error) throw deserializeError(response.error);
    } catch (err) {
      db.#closing = Promise.resolve(); // later calls fail with "closed"
      await db.#worker.terminate(); // resolves once the thread has exited, whatever PGlite left behind
      throw err;
    }
    db.#started = true;
    db.#idle();
    return db;
  }

  /** Reads extension and array type oids (pgvector) into the worker's parser table. */
  async loadTypes(): Promise<void> {
    await this.#call({ op: 'loadTypes' });
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    assertNotInTransaction(this); // async: a misuse rejects like every other failure, never throws synchronously
    return this.#query<R>(sql, params, undefined);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction(this);
    const txId = this.#nextId; // the id `begin` is sent with names the transaction
    await this.#call({ op: 'begin' });
    const tx: Queryable = { query: (sql, params) => this.#query(sql, params, txId) };
    let result: T;
    try {
      result = await runInTransaction(this, () => fn(tx));
    } catch (err) {
      try {
        await this.#send({ op: 'end', tx: txId, commit: false });
      } catch (rollbackErr) {
        this.#logger.warn({ err: rollbackErr }, 'rollback after a failed transaction callback failed');
      }
      throw err;
    }
    await this.#send({ op: 'end', tx: txId, commit: true });
    return result;
  }

  /**
   * Collects the garbage the worker's start left behind (see `collectStartupGarbage`): call once
   * the process' start is over. Queries sent meanwhile wait for it.
   */
  async collectStartupGarbage(): Promise<void> {
    await this.#call({ op: 'collectGarbage' });
  }

  /** V8's heap statistics of the worker thread (diagnostics). */
  heapStatistics(): Promise<HeapInfo> {
    return this.#worker.getHeapStatistics();
  }

  async ping(): Promise<void> {
    await this.query('select 1');
  }

  /**
   * Shuts PGlite down cleanly (waiting for queries already sent), lets the worker exit, then
   * releases the data dir. Calls made after `close()` fail.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let closeError: unknown;
      if (!this.#failure) {
        try {
          await this.#send({ op: 'close' });
        } catch (err) {
          closeError = err;
        }
      }
      const timer = setTimeout(() => void this.#worker.terminate(), EXIT_TIMEOUT_MS);
      try {
        await this.#exited;
      } finally {
        clearTimeout(timer);
      }
      await this.#releaseOnce();
      if (closeError !== undefined) throw closeError;
    })();
    return this.#closing;
  }

  /** Resolves with the worker's exit code once the thread has ended (for tests and diagnostics). */
  get exited(): Promise<number> {
    return this.#exited;
  }

  async #query<R>(sql: string, params: unknown[] | undefined, tx: number | undefined): Promise<QueryResult<R>> {
    const request: Request = { op: 'query', sql, params: params && params.length > 0 ? params : undefined, tx };
    // A transaction that is already open may finish after close() was called (PGlite's close waits
    // for it, as in-process); only new work is refused.
    const response = await (tx === undefined ? this.#call(request) : this.#send(request));
    const rows = (response.rows ?? []) as R[];
    if (response.bytes) restoreBuffers(rows);
    return { rows };
  }

  #call(request: Request): Promise<WorkerResponse> {
    if (this.#closing) return Promise.reject(this.#failure ?? new Error('PGlite is closed'));
    return this.#send(request);
  }

  #send(request: Request): Promise<WorkerResponse> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      try {
        this.#worker.postMessage({ ...request, id } as WorkerRequest);
      } catch (err) {
        // DataCloneError: a parameter that cannot cross threads (a function, a class instance with private state…).
        reject(err as Error);
        return;
      }
      // Keep the process alive only while an answer is due, like an in-process database would.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, {
        resolve: (response) => (response.error ? reject(deserializeError(response.error)) : resolve(response)),
        reject,
      });
    });
  }

  #settle(response: WorkerResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    if (this.#pending.size === 0) this.#idle();
    pending.resolve(response);
  }

  #idle(): void {
    this.#worker.unref();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(this.#failure);
  }

  #releaseOnce(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }
}
