import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { TypeRegistry } from './type-parsers.ts';
import type { QueryResult } from './types.ts';

type PgliteModule = typeof import('@electric-sql/pglite');
type BackendMessage = Parameters<PgliteModule['parse']['parseResults']>[0][number];

/**
 * PGlite's protocol helpers, loaded on first use: the threaded backend's main thread imports this
 * module's types only, and must not load PGlite's JavaScript just for that.
 */
let pgliteModule: PgliteModule | undefined;
async function loadPgliteModule(): Promise<PgliteModule> {
  pgliteModule ??= await import('@electric-sql/pglite');
  return pgliteModule;
}

/** Most named statements kept prepared per PGlite session (a plan is a few KB to ~100 KB of Postgres memory). */
export const MAX_PREPARED_STATEMENTS = 128;

/**
 * Marks a statement whose SQL starts with it as one that may keep a generic plan. PGlite plans
 * every execution for its own values (`plan_cache_mode=force_custom_plan`): generic plans made
 * the memory store's hybrid search and inserts about twice as slow (5,000 memories, `npm run
 * bench:memory`). A marked statement runs with Postgres' default (`auto`): after five custom plans
 * it may keep a generic one, which skips planning, most of a short statement's cost (the turn
 * commit: 1.05 → 0.5 ms of CPU). Only statements whose plans were checked carry it: key lookups,
 * each with an index for every table it reads.
 *
 * A marked statement is also planned without sequential scans (`enable_seqscan = off`). The plan
 * it keeps is made once, from the tables' sizes at that moment, and PGlite has no autovacuum whose
 * statistics would replace it. Made on a nearly empty table, as on a fresh data dir, it scanned
 * the whole table for every key: the turn commit then looked for each turn's last message through
 * every message, and took several times its CPU for as long as the plan lived. With every row the
 * table gained, the commits got slower and so larger and fewer, and the plan outlived a
 * 500-session benchmark run.
 */
export const GENERIC_PLAN_MARK = '/* generic plan */';

/**
 * Executions, and milliseconds, after which a statement marked {@link GENERIC_PLAN_MARK} is parsed
 * (and so planned) afresh. A generic plan lives as long as its statement, and its estimates (rows,
 * join methods) come from the tables' sizes when it was made (PGlite has no autovacuum whose
 * statistics would invalidate it): parsing again bounds how long such a plan lives, by use and by
 * age.
 */
export const REPLAN_AFTER_EXECUTIONS = 200;
export const REPLAN_AFTER_MS = 30_000;

/** SQLSTATEs after which a prepared statement must be parsed again: it was dropped, or its result type changed. */
const STALE_STATEMENT_CODES = new Set(['26000', '0A000']);

/**
 * One PGlite session as the query runner sees it: the instance, and the named prepared statements
 * it holds, by SQL text (least recently used first); one that may keep a generic plan is parsed
 * again after {@link REPLAN_AFTER_EXECUTIONS} uses or {@link REPLAN_AFTER_MS}.
 *
 * Statements with parameters run as ONE protocol message (Parse only the first time, then Bind,
 * Describe, Execute, Sync) instead of PGlite's own `query()`, which makes six calls into Postgres
 * per statement (Parse, Describe, Bind, Describe, Execute, Sync) and has Postgres parse and plan
 * the SQL every time. Planning is most of the cost of a short statement in WebAssembly Postgres:
 * the turn commit's CTE went from ~1.5 ms to ~0.4 ms of CPU.
 */
export class PgliteSession {
  readonly pglite: PGlite;
  readonly #names = new Map<string, { name: string; uses: number; at: number }>();
  readonly #now: () => number;
  /** Statements to close with the next message (evicted, or possibly half-made by a failed Parse). */
  #toClose: string[] = [];
  #next = 0;

  constructor(pglite: PGlite, opts: { now?: () => number } = {}) {
    this.pglite = pglite;
    this.#now = opts.now ?? Date.now;
  }

  /** Names of the statements currently prepared (for tests). */
  get preparedCount(): number {
    return this.#names.size;
  }

  /** The statement's name and whether it still has to be parsed; evicts the least recently used. */
  claim(sql: string): { name: string; fresh: boolean } {
    const known = this.#names.get(sql);
    if (known !== undefined) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.#names.delete(sql);
      // Only a statement that may keep a generic plan has one to outlive; the others are planned per execution.
      const replan = sql.startsWith(GENERIC_PLAN_MARK) && (++known.uses >= REPLAN_AFTER_EXECUTIONS || this.#now() - known.at >= REPLAN_AFTER_MS);
      if (!replan) {
        this.#names.set(sql, known);
        return { name: known.name, fresh: false };
      }
      this.#toClose.push(known.name);
    }
    // Unlikely to collide with a client of the embedded server, which shares this session.
    const name = `__switchboard_${this.#next++}`;
    this.#names.set(sql, { name, uses: 0, at: this.#now() });
    if (this.#names.size > MAX_PREPARED_STATEMENTS) {
      const [oldestSql, oldest] = this.#names.entries().next().value as [string, { name: string }];
      this.#names.delete(oldestSql);
      this.#toClose.push(oldest.name);
    }
    return { name, fresh: true };
  }

  /** Forgets a statement whose state in Postgres is unknown; it is closed with the next message. */
  forget(sql: string, name: string): void {
    if (this.#names.get(sql)?.name === name) this.#names.delete(sql);
    this.#toClose.push(name);
  }

  takeCloses(): string[] {
    const out = this.#toClose;
    this.#toClose = [];
    return out;
  }
}

/**
 * The settings a statement marked {@link GENERIC_PLAN_MARK} runs with outside a transaction, and
 * their reset to the session's own (those PGlite starts with, `pglite-runtime.ts`) after it in the
 * same message: every other statement, and every client of the session, is planned as before it.
 * Each costs ~5 µs there.
 */
const MARKED_SETTINGS = 'SET plan_cache_mode = auto; SET enable_seqscan = off';
const SESSION_SETTINGS = 'RESET plan_cache_mode; RESET enable_seqscan';
/** Results of {@link SESSION_SETTINGS} (one per statement), which come after the statement's. */
const SESSION_SETTINGS_RESULTS = SESSION_SETTINGS.split(';').length;

/** What both a PGlite instance and one of its transactions offer. */
export type PgliteQueryable = Pick<PGlite | Transaction, 'query' | 'exec'>;

/** Where a statement runs: on the session, or inside one of its open transactions. */
export interface PgliteTarget {
  session: PgliteSession;
  /** The open transaction, when the statement runs inside one. */
  tx?: Pick<Transaction, 'exec' | 'closed'>;
}

function arrayLiteral(values: readonly unknown[]): string {
  const parts = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    const text = serializeParam(v) as string;
    return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${parts.join(',')}}`;
}

/**
 * A parameter in Postgres text format, chosen by its JS type as node-postgres does, so both
 * backends bind the same values the same way: strings as they are, numbers and bigints in decimal,
 * booleans as true/false, Dates as ISO instants, Buffers/Uint8Arrays as bytea hex, arrays as array
 * literals, other objects as JSON.
 */
export function serializeParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      break;
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (Array.isArray(value)) return arrayLiteral(value);
  return JSON.stringify(value);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

async function runPrepared<R>(target: PgliteTarget, sql: string, params: unknown[], retry: boolean): Promise<R[]> {
  const { session } = target;
  const { protocol, parse } = await loadPgliteModule();
  const serialize = protocol.serialize;
  const values = params.map(serializeParam);
  const { name, fresh } = session.claim(sql);
  const parts: Uint8Array[] = session.takeCloses().map((closed) => serialize.close({ type: 'S', name: closed }));
  // Inside a transaction every statement gets custom plans: a SET there is undone by a rollback.
  // The settings are restored after the Sync, so also after a statement that failed.
  const marked = target.tx === undefined && sql.startsWith(GENERIC_PLAN_MARK);
  if (marked) parts.push(serialize.query(MARKED_SETTINGS));
  if (fresh) parts.push(serialize.parse({ name, text: sql }));
  parts.push(serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
  if (marked) parts.push(serialize.query(SESSION_SETTINGS));
  let messages: BackendMessage[];
  try {
    const pglite = session.pglite;
    messages = await pglite._runExclusiveQuery(() => pglite.execProtocolStream(concat(parts), { syncToFs: target.tx === undefined }));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // A Parse that failed made no statement, one that succeeded before a failing Bind did: closing
    // is harmless either way. A cached one that Postgres no longer has (DEALLOCATE ALL from an
    // embedded-server client) or whose result type changed under it is parsed again.
    if (fresh || (typeof code === 'string' && STALE_STATEMENT_CODES.has(code))) session.forget(sql, name);
    if (!fresh && retry && target.tx === undefined && typeof code === 'string' && STALE_STATEMENT_CODES.has(code)) {
      return runPrepared<R>(target, sql, params, false);
    }
    throw err;
  }
  // The statement's result is the last one but for the restored settings' (the SETs' before it come first).
  return parse.parseResults(messages, session.pglite.parsers).at(marked ? -1 - SESSION_SETTINGS_RESULTS : -1)!.rows as R[];
}

/**
 * Runs one `Queryable.query` call on PGlite. Mirrors node-postgres: with values → extended
 * protocol, one statement (kept prepared, see {@link PgliteSession}); no values → simple protocol,
 * several statements allowed, last one wins. Shared by the in-process backend and the worker
 * thread so both behave identically.
 */
export async function runPgliteQuery<R>(target: PgliteTarget, sql: string, params: unknown[] | undefined): Promise<QueryResult<R>> {
  if (target.tx?.closed) throw new Error('Transaction is closed');
  if (params && params.length > 0) {
    const pglite = target.session.pglite;
    // Same locking as PGlite's own query(): outside a transaction, wait until none is open.
    const rows = target.tx
      ? await runPrepared<R>(target, sql, params, true)
      : await pglite._runExclusiveTransaction(() => runPrepared<R>(target, sql, params, true));
    return { rows };
  }
  const results = await (target.tx ?? target.session.pglite).exec(sql);
  return { rows: (results[results.length - 1]?.rows ?? []) as R[] };
}

/**
 * Makes PGlite parse every oid the registry knows through it. PGlite falls back to its own
 * defaults for oids missing here, so every oid we map is set, including the ones that must stay
 * strings (date, numeric, …).
 */
export function installParsers(pglite: PGlite, types: TypeRegistry): void {
  const parsers = pglite.parsers;
  for (const oid of types.oids()) parsers[oid] = (value: string) => types.parse(oid, value);
}
