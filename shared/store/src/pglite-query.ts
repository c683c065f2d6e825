import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { TypeRegistry } from './type-parsers.ts';
import type { QueryResult } from './types.ts';

/** What both a PGlite instance and one of its transactions offer. */
export type PgliteQueryable = Pick<PGlite | Transaction, 'query' | 'exec'>;

/**
 * Runs one `Queryable.query` call on PGlite. Mirrors node-postgres: with values → extended
 * protocol, one statement; no values → simple protocol, several statements allowed, last one wins.
 * Shared by the in-process backend and the worker thread so both behave identically.
 */
export async function runPgliteQuery<R>(
  target: PgliteQueryable,
  sql: string,
  params: unknown[] | undefined,
): Promise<QueryResult<R>> {
  if (params && params.length > 0) {
    const result = await target.query<R>(sql, params);
    return { rows: result.rows };
  }
  const results = await target.exec(sql);
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
