// Worker thread of ThreadedPgliteDatabase: runs PGlite (Postgres in WebAssembly, with pgvector) off
// the main thread, so query execution never blocks the event loop that serves HTTP, Redis and
// BullMQ. Loaded by `new Worker(new URL('./pglite-worker.ts', import.meta.url))`, i.e. by plain
// Node with type stripping: keep it to erasable TypeScript and light imports (no zod, no pino).
import { parentPort, workerData } from 'node:worker_threads';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { installParsers, PgliteSession, runPgliteQuery } from './pglite-query.ts';
import { createPglite, warmPglite } from './pglite-runtime.ts';
import { collectStartupGarbage } from './startup-gc.ts';
import { TYPE_CATALOG_SQL, TypeRegistry, type TypeCatalogRow } from './type-parsers.ts';
import {
  detachBytes,
  OPEN_REQUEST_ID,
  serializeError,
  type WorkerBoot,
  type WorkerInit,
  type WorkerRequest,
  type WorkerResponse,
} from './worker-protocol.ts';

if (!parentPort) throw new Error('pglite-worker.ts must run in a worker thread');
const port = parentPort;
// PGlite's modules load and its WebAssembly compiles while the main thread may still be preparing
// the data dir; without `workerData`, where to run comes as the first message.
const warming = warmPglite();
warming.catch(() => undefined); // createPglite reports the same failure
const init =
  (workerData as WorkerInit | null) ?? (await new Promise<WorkerInit>((resolve) => port.once('message', (boot: WorkerBoot) => resolve(boot.init))));

/** Thrown into PGlite's transaction callback so that it rolls back. */
const ROLLBACK = Symbol('rollback');

interface OpenTransaction {
  tx: Transaction;
  finish(commit: boolean): void;
  done: Promise<void>;
}

/** Open transactions by the id of their `begin` request. */
const transactions = new Map<number, OpenTransaction>();

function reply(response: WorkerResponse): void {
  port.postMessage(response);
}

function fail(id: number, err: unknown): void {
  reply({ id, error: serializeError(err) });
}

/**
 * Starts `pglite.transaction` with a callback that waits for the main thread's `end` request. While
 * it waits, PGlite's transaction mutex makes every other query wait, exactly as in-process.
 */
function begin(pglite: PGlite, id: number): Promise<void> {
  return new Promise<void>((started, failedToStart) => {
    let finish: (commit: boolean) => void = () => {};
    const decided = new Promise<boolean>((resolve) => (finish = resolve));
    let open = false;
    const done = pglite.transaction(async (tx) => {
      open = true;
      transactions.set(id, { tx, finish, done });
      started();
      if (!(await decided)) throw ROLLBACK;
    });
    done.catch((err: unknown) => {
      if (!open) failedToStart(err);
    });
  });
}

async function end(id: number, txId: number, commit: boolean): Promise<void> {
  const open = transactions.get(txId);
  if (!open) throw new Error('Transaction is closed');
  transactions.delete(txId);
  open.finish(commit);
  try {
    await open.done;
  } catch (err) {
    if (err !== ROLLBACK) throw err;
  }
  reply({ id });
}

async function query(session: PgliteSession, req: Extract<WorkerRequest, { op: 'query' }>): Promise<void> {
  let tx: Transaction | undefined;
  if (req.tx !== undefined) {
    const open = transactions.get(req.tx);
    // Same message as PGlite's own for a transaction used after it ended.
    if (!open) throw new Error('Transaction is closed');
    tx = open.tx;
  }
  const { rows } = await runPgliteQuery<unknown>(tx ? { session, tx } : { session }, req.sql, req.params);
  const bytes = detachBytes(rows);
  reply(bytes ? { id: req.id, rows, bytes } : { id: req.id, rows });
}

async function handle(session: PgliteSession, types: TypeRegistry, req: WorkerRequest): Promise<void> {
  const pglite = session.pglite;
  try {
    switch (req.op) {
      case 'query':
        await query(session, req);
        return;
      case 'begin':
        await begin(pglite, req.id);
        reply({ id: req.id });
        return;
      case 'end':
        await end(req.id, req.tx, req.commit);
        return;
      case 'loadTypes': {
        const { rows } = await pglite.query<TypeCatalogRow>(TYPE_CATALOG_SQL);
        types.load(rows);
        installParsers(pglite, types);
        reply({ id: req.id });
        return;
      }
      case 'collectGarbage':
        collectStartupGarbage();
        reply({ id: req.id });
        return;
      case 'close':
        if (!pglite.closed) await pglite.close();
        reply({ id: req.id });
        // Nothing else keeps this thread alive: it exits once the port is closed.
        port.close();
        return;
    }
  } catch (err) {
    fail(req.id, err);
  }
}

try {
  const pglite = await createPglite(init);
  const types = new TypeRegistry();
  installParsers(pglite, types);
  const session = new PgliteSession(pglite);
  port.on('message', (req: WorkerRequest) => void handle(session, types, req));
  reply({ id: OPEN_REQUEST_ID });
} catch (err) {
  fail(OPEN_REQUEST_ID, err);
  port.close();
}
