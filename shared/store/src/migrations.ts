import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@switchboard/observability';
import { SwitchboardError } from '@switchboard/contracts';
import type { Db } from './types.ts';

/** The package's migrations folder (`shared/store/migrations`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/**
 * Advisory lock key taken by every migration transaction, so processes that start together
 * against one Postgres apply each file exactly once, in order.
 */
const MIGRATION_LOCK_KEY = 7_305_830_410_211_220_001n;

const MIGRATION_FILE = /^\d+[_-].+\.sql$/;

/** One migration file. */
export interface Migration {
  /** File name, e.g. `001_spine.sql`; files apply in name order. */
  name: string;
  sql: string;
  /** sha256 of the file contents, hex. */
  checksum: string;
}

/** Reads the migration files of `dir` in the order they apply. */
export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** A short hash of every migration's name and contents (part of the snapshot cache key). */
export function migrationsFingerprint(dir: string = MIGRATIONS_DIR): string {
  const hash = createHash('sha256');
  for (const m of listMigrations(dir)) hash.update(`${m.name}\0${m.checksum}\0`);
  return hash.digest('hex').slice(0, 16);
}

const LOCK_SQL = `select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;

const CREATE_TABLE_SQL = `create table if not exists schema_migrations (
  name       text primary key,
  checksum   text not null,
  applied_at timestamptz not null default now()
)`;

/**
 * Applies the migration files not yet recorded in `schema_migrations`, each in its own
 * transaction under an advisory lock, in name order. Safe to run from several processes at once;
 * a no-op when everything is applied. A file whose contents changed after it was applied is
 * logged, not re-run.
 */
export async function runMigrations(db: Db, logger?: Logger, opts: { dir?: string } = {}): Promise<void> {
  const migrations = listMigrations(opts.dir);
  await db.transaction(async (tx) => {
    await tx.query(LOCK_SQL);
    await tx.query(CREATE_TABLE_SQL);
  });
  const { rows } = await db.query<{ name: string; checksum: string }>('select name, checksum from schema_migrations');
  const applied = new Map(rows.map((r) => [r.name, r.checksum]));
  for (const m of migrations) {
    const checksum = applied.get(m.name);
    if (checksum !== undefined) {
      if (checksum !== m.checksum) logger?.warn({ migration: m.name }, 'migration file changed after it was applied');
      continue;
    }
    const startedAt = performance.now();
    const ran = await db
      .transaction(async (tx) => {
        await tx.query(LOCK_SQL);
        const done = await tx.query('select 1 from schema_migrations where name = $1', [m.name]);
        if (done.rows.length > 0) return false; // another process applied it while we waited
        await tx.query(m.sql);
        await tx.query('insert into schema_migrations (name, checksum) values ($1, $2)', [m.name, m.checksum]);
        return true;
      })
      .catch((err: unknown) => {
        throw new SwitchboardError('handler_error', `migration ${m.name} failed: ${(err as Error).message}`, {
          cause: err,
        });
      });
    if (ran) logger?.info({ migration: m.name, durationMs: Math.round(performance.now() - startedAt) }, 'migration applied');
  }
}
