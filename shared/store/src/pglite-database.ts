import type { PGlite } from '@electric-sql/pglite';
import { installParsers, PgliteSession, runPgliteQuery } from './pglite-query.ts';
import { TYPE_CATALOG_SQL, TypeRegistry, type TypeCatalogRow } from './type-parsers.ts';
import { assertNotInTransaction, runInTransaction } from './transaction-guard.ts';
import type { Db, Queryable, QueryResult } from './types.ts';

/** A {@link Db} over one in-process PGlite instance. */
export class PgliteDatabase implements Db {
  readonly kind = 'pglite' as const;
  readonly #pglite: PGlite;
  readonly #session: PgliteSession;
  readonly #dispose: () => Promise<void>;
  readonly #types = new TypeRegistry();
  #closing: Promise<void> | undefined;

  /** `dispose` runs after PGlite has shut down (releases the data dir lock, deletes temp dirs). */
  constructor(pglite: PGlite, dispose: () => Promise<void>) {
    this.#pglite = pglite;
    this.#session = new PgliteSession(pglite);
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
    return runPgliteQuery<R>({ session: this.#session }, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction(this);
    // PGlite issues BEGIN, COMMIT, or ROLLBACK when the callback throws.
    return this.#pglite.transaction((pgTx) => {
      const tx: Queryable = { query: (sql, params) => runPgliteQuery({ session: this.#session, tx: pgTx }, sql, params) };
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
    installParsers(this.#pglite, this.#types);
  }
}
