import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@switchboard/observability';
import { SwitchboardError } from '@switchboard/contracts';
import { migrationsFingerprint, runMigrations } from './migrations.ts';
import { tryLock, unlock } from './pid-lock.ts';
import { PgliteDatabase } from './pglite-database.ts';
import { createPglite, engineVersions, nodeModulesDir } from './pglite-runtime.ts';

/** Bump when the way the template is built changes. */
const TEMPLATE_FORMAT = 3;
const TEMPLATE_PREFIX = 'pglite-template-';
/** Templates of other keys older than this are pruned after a build (others may still copy them). */
const PRUNE_AFTER_MS = 10 * 60_000;
/** Run one by one: DROP DATABASE refuses to run inside a (multi-statement) transaction. */
const SLIM_SQL = [
  'ALTER DATABASE template0 WITH IS_TEMPLATE false',
  'DROP DATABASE template0',
  'ALTER DATABASE template1 WITH IS_TEMPLATE false',
  'DROP DATABASE template1',
  'VACUUM FULL',
  'CHECKPOINT',
];

/** Options for locating and building the snapshot. */
export interface TemplateOptions {
  /** Cache folder. Default `node_modules/.cache/switchboard-store`, else `<tmpdir>/switchboard-store-cache`. */
  cacheDir?: string;
  /** Migrations folder baked into the snapshot. Default: this package's `migrations/`. */
  migrationsDir?: string;
  /** How long to wait for another process that is building the same snapshot, in ms. Default 120000. */
  waitTimeoutMs?: number;
  logger?: Logger;
}

/** Cache key: engine versions + migrations, so a new pglite or a new migration gets a new snapshot. */
export function templateKey(migrationsDir?: string): string {
  const { pglite, pgvector } = engineVersions();
  return createHash('sha256')
    .update(`${TEMPLATE_FORMAT}\0${pglite}\0${pgvector}\0${migrationsFingerprint(migrationsDir)}`)
    .digest('hex')
    .slice(0, 20);
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where snapshots live unless told otherwise (created if missing). */
export function defaultTemplateCacheDir(): string {
  const nodeModules = nodeModulesDir();
  if (nodeModules) {
    const dir = join(nodeModules, '.cache', 'switchboard-store');
    if (writable(dir)) return dir;
  }
  const fallback = join(tmpdir(), 'switchboard-store-cache');
  mkdirSync(fallback, { recursive: true });
  return fallback;
}

/** The path the snapshot for the current key has (whether or not it exists yet). */
export function templatePath(opts: Pick<TemplateOptions, 'cacheDir' | 'migrationsDir'> = {}): string {
  return join(opts.cacheDir ?? defaultTemplateCacheDir(), `${TEMPLATE_PREFIX}${templateKey(opts.migrationsDir)}`);
}

async function build(target: string, opts: TemplateOptions): Promise<void> {
  const work = `${target}.tmp-${process.pid}-${Date.now()}`;
  const startedAt = performance.now();
  opts.logger?.info({ template: target }, 'building PGlite snapshot (initdb + migrations, once per install)');
  try {
    const pglite = await createPglite({ dataDir: work });
    const db = new PgliteDatabase(pglite, async () => {});
    try {
      await runMigrations(db, opts.logger, opts.migrationsDir ? { dir: opts.migrationsDir } : {});
      // Every first start copies this dir, and on small VMs file creation dominates (~0.25 ms per
      // file). The two template databases are 600 of the ~1,000 files and PGlite never uses them
      // (one session, one database), so they go; `CREATE DATABASE x TEMPLATE postgres` still works.
      for (const sql of SLIM_SQL) await db.query(sql);
    } finally {
      await db.close(); // clean shutdown: the copy starts without WAL recovery
    }
    renameSync(work, target);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  opts.logger?.info({ template: target, durationMs: Math.round(performance.now() - startedAt) }, 'PGlite snapshot built');
}

function prune(cacheDir: string, keep: string): void {
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith(TEMPLATE_PREFIX) || join(cacheDir, name) === keep || name.endsWith('.lock')) continue;
    const path = join(cacheDir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > PRUNE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Raced with another pruner: nothing to do.
    }
  }
}

/**
 * Returns the directory of a pre-initialised, migrated PGlite data dir for the current engine and
 * migrations, building it first if this install has none (seconds, once). Concurrent callers wait
 * for one builder instead of each running initdb.
 */
export async function ensureTemplate(opts: TemplateOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultTemplateCacheDir();
  mkdirSync(cacheDir, { recursive: true });
  const target = templatePath({ cacheDir, ...(opts.migrationsDir ? { migrationsDir: opts.migrationsDir } : {}) });
  const lockPath = `${target}.lock`;
  const deadline = Date.now() + (opts.waitTimeoutMs ?? 120_000);
  for (;;) {
    if (existsSync(join(target, 'PG_VERSION'))) return target;
    const lock = tryLock(lockPath);
    if (lock.ok) {
      try {
        if (!existsSync(join(target, 'PG_VERSION'))) {
          await build(target, opts);
          prune(cacheDir, target);
        }
        return target;
      } finally {
        unlock(lockPath);
      }
    }
    if (Date.now() > deadline) {
      throw new SwitchboardError('timeout', `timed out waiting for pid ${lock.holder} to build ${target}`, {
        retryable: true,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
