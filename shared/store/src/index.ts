export { openDatabase } from './open-database.ts';
export { ThreadedPgliteDatabase } from './threaded-pglite-database.ts';
export type { Db, Queryable, QueryResult, OpenDatabaseOptions } from './types.ts';
export { runMigrations, listMigrations, MIGRATIONS_DIR } from './migrations.ts';
export type { Migration } from './migrations.ts';
export { startEmbeddedServer } from './embedded-server.ts';
export type { EmbeddedServer, EmbeddedServerOptions } from './embedded-server.ts';
export { embeddedDataDir } from './data-dir.ts';
export { ensureTemplate, templatePath, defaultTemplateCacheDir } from './template-cache.ts';
export type { TemplateOptions } from './template-cache.ts';
export { toVectorLiteral } from './type-parsers.ts';
export { sqlState, isUniqueViolation } from './db-errors.ts';
export {
  EmbeddedServerEnv,
  loadEmbeddedServerConfig,
  databaseOptionsFromConfig,
} from './config.ts';
export type { EmbeddedServerConfig } from './config.ts';
export { TRANSCRIPT_COMMIT_BATCH_SQL, TRANSCRIPT_COMMIT_SQL, TRANSCRIPT_HISTORY_SQL } from './transcript-sql.ts';
export { GENERIC_PLAN_MARK } from './pglite-query.ts';
export type { TranscriptHistoryRow } from './transcript-sql.ts';
export { collectStartupGarbage, collectStartupGarbageSoon } from './startup-gc.ts';
