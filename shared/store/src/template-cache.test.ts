import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { createLogger } from '@switchboard/observability';
import { copyTemplate } from './data-dir.ts';
import { PgliteDatabase } from './pglite-database.ts';
import { createPglite } from './pglite-runtime.ts';
import { ensureTemplate, templatePath } from './template-cache.ts';

// Builds one snapshot from scratch (initdb: several seconds), with its own cache and migrations.
let root: string;
let cacheDir: string;
let migrationsDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sb-template-'));
  cacheDir = join(root, 'cache');
  migrationsDir = join(root, 'migrations');
  await mkdir(migrationsDir);
  await writeFile(join(migrationsDir, '001_only.sql'), 'create extension if not exists vector; create table only_here (v vector(2));');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ensureTemplate', () => {
  it('waits for a live builder holding the lock, then gives up with a retryable timeout', async () => {
    const target = templatePath({ cacheDir, migrationsDir });
    await mkdir(cacheDir, { recursive: true });
    await writeFile(`${target}.lock`, String(process.ppid)); // a live process that is not us
    const err = await ensureTemplate({ cacheDir, migrationsDir, waitTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('timeout');
    await rm(`${target}.lock`);
  });

  it('takes over a stale lock, builds once for concurrent callers, and bakes the migrations in', async () => {
    const target = templatePath({ cacheDir, migrationsDir });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid is free
    await writeFile(`${target}.lock`, String(dead));

    const lines: string[] = [];
    const logger = createLogger({ service: 'test', destination: { write: (line: string) => void lines.push(line) } });
    const [a, b] = await Promise.all([
      ensureTemplate({ cacheDir, migrationsDir, logger }),
      ensureTemplate({ cacheDir, migrationsDir, logger }),
    ]);
    expect(lines.filter((l) => l.includes('PGlite snapshot built'))).toHaveLength(1);
    expect(a).toBe(target);
    expect(b).toBe(target);
    expect(existsSync(`${target}.lock`)).toBe(false);
    expect((await readdir(cacheDir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // The template databases are dropped to keep the snapshot small.
    expect(await readdir(join(target, 'base'))).toHaveLength(1);

    const dir = join(root, 'copy');
    copyTemplate(target, dir);
    const db = new PgliteDatabase(await createPglite({ dataDir: dir }), async () => {});
    try {
      const { rows } = await db.query(`select name from schema_migrations`);
      expect(rows).toEqual([{ name: '001_only.sql' }]);
      expect((await db.query(`select to_regclass('only_here')::text as t`)).rows).toEqual([{ t: 'only_here' }]);
      expect((await db.query(`select datname from pg_database`)).rows).toEqual([{ datname: 'postgres' }]);
    } finally {
      await db.close();
    }
  });
});
