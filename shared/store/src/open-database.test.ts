import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { embeddedDataDir } from './data-dir.ts';
import { openDatabase as open } from './open-database.ts';
import { EarlyWorker } from './early-worker.ts';
import { ThreadedPgliteDatabase } from './threaded-pglite-database.ts';
import { PgliteDatabase } from './pglite-database.ts';
import type { Db, OpenDatabaseOptions } from './types.ts';
import { ensureTemplate } from './template-cache.ts';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sb-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The PGlite data dir of either PGlite backend. */
function dataDirOf(db: Db): string {
  return db instanceof PgliteDatabase ? db.pglite.dataDir! : (db as ThreadedPgliteDatabase).dataDir;
}

describe.each([
  ['on the calling thread', false],
  ['in a worker thread', true],
])('openDatabase with a data dir, PGlite %s', (_where, thread) => {
  const openDatabase = (opts: OpenDatabaseOptions = {}) => open({ ...opts, thread });

  it('starts an empty dir from the snapshot and keeps data across close and reopen', async () => {
    const dataDir = embeddedDataDir(root);
    const first = await openDatabase({ dataDir });
    expect(first).toBeInstanceOf(thread ? ThreadedPgliteDatabase : PgliteDatabase);
    expect(first.kind).toBe('pglite');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    await first.query(`insert into sessions (id, platform, account, chat_id, fence) values ('s1', 'web', 'a', 'c', 7)`);
    await first.close();

    const second = await openDatabase({ dataDir });
    try {
      expect((await second.query('select id, fence from sessions')).rows).toEqual([{ id: 's1', fence: 7 }]);
      expect((await second.query<{ n: number }>('select count(*) as n from schema_migrations')).rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });

  it('accepts an existing empty directory (mkdtemp) as the data dir', async () => {
    const db = await openDatabase({ dataDir: root });
    try {
      await db.ping();
    } finally {
      await db.close();
    }
    expect(existsSync(join(root, 'PG_VERSION'))).toBe(true);
  });

  it('refuses a data dir another open database is using, and allows it once closed', async () => {
    const dataDir = join(root, 'pglite');
    const db = await openDatabase({ dataDir });
    const err = await openDatabase({ dataDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('config_error');
    expect((err as Error).message).toContain('in use');
    await db.close();
    const again = await openDatabase({ dataDir });
    await again.close();
  });

  it('lets exactly one of two simultaneous opens of the same empty dir win', async () => {
    const dataDir = join(root, 'pglite');
    const results = await Promise.allSettled([openDatabase({ dataDir }), openDatabase({ dataDir })]);
    const opened = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(opened).toHaveLength(1);
    expect(((refused[0] as PromiseRejectedResult).reason as SwitchboardError).code).toBe('config_error');
    await (opened[0] as PromiseFulfilledResult<Db>).value.close();
    expect(await readdir(root)).toEqual(['pglite']); // no staging copy left behind
  });

  it('refuses a non-empty directory that holds no database', async () => {
    const dataDir = join(root, 'pglite');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'notes.txt'), 'not a database');
    const err = await openDatabase({ dataDir }).catch((e: unknown) => e);
    expect((err as SwitchboardError).code).toBe('config_error');
    expect(await readdir(dataDir)).toEqual(['notes.txt']);
  });
});

describe.each([
  ['on the calling thread', false],
  ['in a worker thread', true],
])('openDatabase without a data dir, PGlite %s', (_where, thread) => {
  const openDatabase = (opts: OpenDatabaseOptions = {}) => open({ ...opts, thread });

  it('gives each call its own ephemeral database and deletes it on close', async () => {
    const a = await openDatabase();
    const b = await openDatabase();
    const dirs = [a, b].map((db) => dirname(dataDirOf(db)));
    expect(new Set(dirs).size).toBe(2);
    for (const dir of dirs) {
      expect(dir.startsWith(tmpdir())).toBe(true);
      expect(existsSync(join(dir, 'pgdata', 'PG_VERSION'))).toBe(true);
    }
    await a.query(`insert into sessions (id, platform, account, chat_id) values ('only-a', 'web', 'a', 'c')`);
    expect((await b.query(`select id from sessions where id = 'only-a'`)).rows).toEqual([]);
    await a.close();
    await b.close();
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it('reuses the cached snapshot instead of running initdb', async () => {
    const template = await ensureTemplate();
    expect(existsSync(join(template, 'PG_VERSION'))).toBe(true);
    const startedAt = performance.now();
    const db = await openDatabase();
    const elapsedMs = performance.now() - startedAt;
    await db.close();
    // initdb alone takes several seconds; a snapshot start is well under that even on a busy CI box.
    expect(elapsedMs).toBeLessThan(3_000);
  });
});

describe('openDatabase with an early worker', () => {
  const exitOf = (early: EarlyWorker) => new Promise<number>((resolve) => early.worker.once('exit', resolve));

  it('runs PGlite in the worker it was given, which exits on close', async () => {
    const early = new EarlyWorker();
    const exited = exitOf(early);
    const db = await open({ dataDir: join(root, 'early'), thread: true, earlyWorker: early });
    expect(db).toBeInstanceOf(ThreadedPgliteDatabase);
    expect((await db.query<{ n: number }>('select 41 + 1 as n')).rows).toEqual([{ n: 42 }]);
    await db.close();
    // A worker left waiting for its data dir would never exit.
    await expect(exited).resolves.toBeTypeOf('number');
  });

  it('discards it when the database is Postgres at a URL or PGlite on the calling thread', async () => {
    const unused = new EarlyWorker();
    const discarded = exitOf(unused);
    await open({ databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres', connectTimeoutMs: 100, earlyWorker: unused }).catch(() => undefined);
    await expect(discarded).resolves.toBeTypeOf('number');

    const unusedToo = new EarlyWorker();
    const alsoDiscarded = exitOf(unusedToo);
    const db = await open({ dataDir: join(root, 'inline'), thread: false, earlyWorker: unusedToo });
    try {
      expect(db).toBeInstanceOf(PgliteDatabase);
      await expect(alsoDiscarded).resolves.toBeTypeOf('number');
    } finally {
      await db.close();
    }
  });
});

describe('openDatabase with a URL', () => {
  const openDatabase = open;

  it('fails at once with remote_error when the server rejects the login', async () => {
    const server = createServer((socket) => {
      socket.once('data', () => {
        const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0');
        const header = Buffer.from([0x45, 0, 0, 0, 0]);
        header.writeInt32BE(fields.length + 4, 1);
        socket.end(Buffer.concat([header, fields]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const startedAt = Date.now();
      const err = await openDatabase({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutMs: 5_000 }).catch(
        (e: unknown) => e,
      );
      expect((err as SwitchboardError).code).toBe('remote_error');
      expect((err as SwitchboardError).retryable).toBe(false);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      server.close();
    }
  });

  it('fails with a retryable remote_unreachable error when nothing listens', async () => {
    const err = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres', connectTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('remote_unreachable');
    expect((err as SwitchboardError).retryable).toBe(true);
  });
});
