/**
 * Messages between {@link ThreadedPgliteDatabase} (main thread) and `pglite-worker.ts`. Everything
 * here is structured-cloned by `postMessage`, so only plain data crosses: rows come back already
 * parsed to JS values (Date, bigint, nested arrays, parsed JSON), bytea as Uint8Array (turned back
 * into Buffer on the main side), errors as {@link SerializedError}.
 *
 * This module is loaded by the worker too: it must stay free of heavy imports.
 */

/** `workerData` of the PGlite worker. */
export interface WorkerInit {
  /** Prepared (filled, locked) data dir; the main thread owns the lock and any cleanup. */
  dataDir: string;
  sharedBuffersMb?: number;
  /** See `setWasmTierUp`; process-wide, so the worker repeats the main thread's choice. */
  wasmTierUp: boolean;
}

/**
 * The first message to a worker started without `workerData` (started early, while its data dir
 * is being prepared): where to run PGlite. The worker answers {@link OPEN_REQUEST_ID} as usual.
 */
export interface WorkerBoot {
  op: 'init';
  init: WorkerInit;
}

/** Main → worker. `id` pairs a request with its {@link WorkerResponse}. */
export type WorkerRequest =
  /** One `query` call; `tx` is the `id` of the `begin` request when it runs inside a transaction. */
  | { op: 'query'; id: number; sql: string; params: unknown[] | undefined; tx: number | undefined }
  /** Starts a transaction (BEGIN) and answers once the session is this transaction's alone. */
  | { op: 'begin'; id: number }
  /** Ends the transaction opened by request `tx`: COMMIT, or ROLLBACK when `commit` is false. */
  | { op: 'end'; id: number; tx: number; commit: boolean }
  /** Re-reads extension and array type oids (after migrations created them). */
  | { op: 'loadTypes'; id: number }
  /** One memory-reducing garbage collection in the worker, once the process' start is over (see `collectStartupGarbage`). */
  | { op: 'collectGarbage'; id: number }
  /** Shuts PGlite down cleanly (checkpoint); the worker exits after answering. */
  | { op: 'close'; id: number };

/** The implicit request the worker answers once PGlite has started (or failed to). */
export const OPEN_REQUEST_ID = 0;

/** Worker → main: the answer to request `id`. */
export interface WorkerResponse {
  id: number;
  /** Result rows of a `query`. */
  rows?: unknown[];
  /** True when `rows` hold Uint8Arrays (bytea) that the main thread turns into Buffers. */
  bytes?: boolean;
  error?: SerializedError;
}

/** An Error flattened for `postMessage` (which would drop `code` and every other own field). */
export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  /** Own fields with cloneable values: `code` (SQLSTATE), `detail`, `hint`, `position`, … */
  fields: Record<string, unknown>;
  cause?: SerializedError;
}

function isCloneableField(value: unknown): boolean {
  const type = typeof value;
  return value === null || type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint' || type === 'undefined';
}

/** Flattens an error (and its cause chain, up to a few levels) for the other thread. */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), stack: undefined, fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    // `params` of a PGlite error are the caller's own values, which crossed once already.
    if (isCloneableField(value) || (key === 'params' && Array.isArray(value))) fields[key] = value;
  }
  const out: SerializedError = { name: err.name, message: err.message, stack: err.stack, fields };
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/**
 * Makes result rows cheap and faithful to clone: a bytea value parsed into a slice of Node's shared
 * 8 KiB Buffer pool would drag the whole pool through `postMessage`, so it gets its own copy.
 * Returns true when any bytea value was found.
 */
export function detachBytes(rows: unknown[]): boolean {
  let found = false;
  const visit = (value: unknown): unknown => {
    if (value instanceof Uint8Array) {
      found = true;
      return value.byteLength === value.buffer.byteLength ? value : new Uint8Array(value);
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = visit(value[i]);
    }
    return value;
  };
  for (const row of rows) {
    if (typeof row !== 'object' || row === null) continue;
    const record = row as Record<string, unknown>;
    for (const key in record) {
      const value = record[key];
      if (typeof value === 'object' && value !== null) record[key] = visit(value);
    }
  }
  return found;
}

/** The main-thread half of {@link detachBytes}: cloned Uint8Arrays become Buffers again (no copy). */
export function restoreBuffers(rows: unknown[]): void {
  const visit = (value: unknown): unknown => {
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = visit(value[i]);
    }
    return value;
  };
  for (const row of rows) {
    const record = row as Record<string, unknown>;
    for (const key in record) {
      const value = record[key];
      if (typeof value === 'object' && value !== null) record[key] = visit(value);
    }
  }
}
