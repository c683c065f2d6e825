/**
 * The SQLSTATE of a database error (e.g. `23505`), the same on both backends: node-postgres and
 * PGlite both put it in `code`. Undefined for anything that is not a server error (including
 * connection errors such as `ECONNREFUSED`).
 */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True for `unique_violation` (23505): the row an idempotent insert wanted already exists. */
export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505';
}
