import type { PGlite, Transaction } from '@electric-sql/pglite';
import { TYPE_CATALOG_SQL, TypeRegistry, type TypeCatalogRow } from './type-parsers.ts';
import { assertNotInTransaction, runInTransaction } from './transaction-guard.ts';
import type { Db, Queryable, QueryResult } from './types.ts';

type PgliteQueryable = Pick<PGlite | Transaction, 'query' | 'exec'>;

async function runQuery<R>(
  target: PgliteQueryable,
  sql: string,
  params: unknown[] | undefined,
): Promise<QueryResult<R>> {
  if (params && params.length > 0) {
    const result = await target.query<R>(sql, params);
    return { rows: result.rows };
  }
  // Mirrors node-postgres: no values → simple protocol, several statements allowed, last one wins.
  const results = await target.exec(sql);
  return { rows: (results[results.length - 1]?.rows ?? []) as R[] };
}

/** A {@link Db} over one in-process PGlite instance. */
export class PgliteDatabase implements Db {
  readonly kind = 'pglite' as const;
  readonly #pglite: PGlite;
  readonly #dispose: () => Promise<void>;
  readonly #types = new TypeRegistry();
  #closing: Promise<void> | undefined;

  /** `dispose` runs after PGlite has shut down (releases the data dir lock, deletes temp dirs). */
  constructor(pglite: PGlite, dispose: () => Promise<void>) {
    this.#pglite = pglite;
    this.#dispose = dispose;
    this.#installParsers();
  }

  /** Reads extension and array type oids (pgvector) into the parser table. */
  async loadTypes(): Promise<void> {
    const { rows } = await this.#pglite.query<TypeCatalogRow>(TYPE_CATALOG_SQL);
    this.#types.load(rows);
    this.#installParsers();
  }

  /** The underlying PGlite instance (for the embedded server). */
  get pglite(): PGlite {
    return this.#pglite;
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    assertNotInTransaction(this);
    return runQuery<R>(this.#pglite, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction(this);
    // PGlite issues BEGIN, COMMIT, or ROLLBACK when the callback throws.
    return this.#pglite.transaction((pgTx) => {
      const tx: Queryable = { query: (sql, params) => runQuery(pgTx, sql, params) };
      return runInTransaction(this, () => fn(tx));
    });
  }

  async ping(): Promise<void> {
    await this.query('select 1');
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        if (!this.#pglite.closed) await this.#pglite.close();
      } finally {
        await this.#dispose();
      }
    })();
    return this.#closing;
  }

  #installParsers(): void {
    // PGlite falls back to its own defaults for oids missing here, so every oid we map is set,
    // including the ones that must stay strings (date, numeric, …).
    const parsers = this.#pglite.parsers;
    for (const oid of this.#types.oids()) parsers[oid] = (value: string) => this.#types.parse(oid, value);
  }
}
