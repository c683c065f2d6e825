import { resolve } from 'node:path';
import { z } from 'zod';
import { int, logLevel, optionalString, parseEnv, type Env } from '@switchboard/config';
import { embeddedDataDir } from './data-dir.ts';
import type { OpenDatabaseOptions } from './types.ts';

/** Environment of `npm run db:embedded`. */
export const EmbeddedServerEnv = z.object({
  /** Root data folder; the database lives in `<DATA_DIR>/pglite`. Default `./data`. */
  DATA_DIR: optionalString.transform((v) => resolve(v ?? './data')),
  /** TCP port to serve on. Default 5433; 0 picks a free port. */
  EMBEDDED_DB_PORT: int(5433, { min: 0, max: 65_535 }),
  /** Address to bind. Default 127.0.0.1 (set 0.0.0.0 inside a container). */
  EMBEDDED_DB_HOST: optionalString.transform((v) => v ?? '127.0.0.1'),
  /** Most concurrent client connections. Default 100. */
  EMBEDDED_DB_MAX_CONNECTIONS: int(100, { min: 1, max: 10_000 }),
  LOG_LEVEL: logLevel,
});
export type EmbeddedServerConfig = z.infer<typeof EmbeddedServerEnv>;

/**
 * Parses the embedded server's environment (default `process.env`) once at start-up; throws
 * `config_error` naming the bad variables.
 */
export function loadEmbeddedServerConfig(env: Env = process.env): EmbeddedServerConfig {
  return parseEnv(EmbeddedServerEnv, env);
}

/**
 * The {@link openDatabase} options every service derives from the common config: Postgres at
 * `DATABASE_URL` when set, else PGlite in `<DATA_DIR>/pglite` (DATA_DIR default `./data`), the same
 * directory `npm run db:embedded` serves.
 */
export function databaseOptionsFromConfig(config: { DATABASE_URL?: string | undefined; DATA_DIR?: string | undefined }): Pick<
  OpenDatabaseOptions,
  'databaseUrl' | 'dataDir'
> {
  if (config.DATABASE_URL) return { databaseUrl: config.DATABASE_URL };
  return { dataDir: embeddedDataDir(resolve(config.DATA_DIR ?? './data')) };
}
