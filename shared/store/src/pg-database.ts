import pg from 'pg';
import type { Logger } from '@switchboard/observability';
import { SwitchboardError } from '@switchboard/contracts';
import { sqlState } from './db-errors.ts';
import { TYPE_CATALOG_SQL, TypeRegistry, type TypeCatalogRow } from './type-parsers.ts';
import { assertNotInTransaction, runInTransaction } from './transaction-guard.ts';
import type { Db, Queryable, QueryResult } from './types.ts';

type PgQueryable = Pick<pg.PoolClient, 'query'>;

async function runQuery<R>(target: PgQueryable, sql: string, params: unknown[] | undefined): Promise<QueryResult<R>> {
  // Without values node-postgres uses the simple protocol and returns one result per statement.
  const result = (await target.query(sql, params && params.length > 0 ? params : undefined)) as
    | pg.QueryResult
    | pg.QueryResult[];
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return { rows: (last?.rows ?? []) as R[] };
}

/** A {@link Db} over a node-postgres pool. */
export class PgDatabase implements Db {
  readonly kind = 'pg' as const;
  readonly #pool: pg.Pool;
  readonly #types: TypeRegistry;
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  constructor(opts: { databaseUrl: string; poolSize: number; logger: Logger }) {
    const types = new TypeRegistry();
    this.#types = types;
    this.#logger = opts.logger;
    this.#pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize,
      application_name: 'switchboard',
      types: {
        // Text results go through the shared table (strings when it has no parser), never through
        // pg's global defaults, so both backends agree. Binary results are not requested by us.
        getTypeParser: ((oid: number, format?: string) => {
          if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
          return (value: string) => types.parse(oid, value);
        }) as pg.CustomTypesConfig['getTypeParser'],
      },
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.#pool.on('error', (err) => this.#logger.warn({ err }, 'idle database connection failed'));
  }

  /**
   * Retries `select 1` until it answers or `timeoutMs` passes (`remote_unreachable`, retryable);
   * an error answer from the server fails at once (`remote_error`).
   */
  async connect(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delayMs = 100;
    for (;;) {
      try {
        await this.#pool.query('select 1');
        return;
      } catch (err) {
        const state = sqlState(err);
        // The server answered with an error (bad credentials, no such database): waiting won't fix
        // it. A server still starting (57P03) or out of connections (class 53) may recover.
        if (state !== undefined && state !== '57P03' && !state.startsWith('53')) {
          throw new SwitchboardError('remote_error', `database refused the connection: ${(err as Error).message}`, {
            cause: err,
          });
        }
        if (Date.now() + delayMs > deadline) {
          throw new SwitchboardError('remote_unreachable', `database unreachable: ${(err as Error).message}`, {
            retryable: true,
            cause: err,
          });
        }
        this.#logger.info({ err: (err as Error).message, retryInMs: delayMs }, 'database not reachable yet');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 2_000);
      }
    }
  }

  /** Reads extension and array type oids (pgvector) into the parser table. */
  async loadTypes(): Promise<void> {
    const { rows } = await this.#pool.query<TypeCatalogRow>(TYPE_CATALOG_SQL);
    this.#types.load(rows);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    assertNotInTransaction(this);
    return runQuery<R>(this.#pool, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction(this);
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const tx: Queryable = { query: (sql, params) => runQuery(client, sql, params) };
      const result = await runInTransaction(this, () => fn(tx));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable; release(err) destroys it instead of returning it to the pool.
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.query('select 1');
  }

  close(): Promise<void> {
    this.#closing ??= this.#pool.end();
    return this.#closing;
  }
}
