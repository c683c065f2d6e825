import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { startEmbeddedServer, type EmbeddedServer } from './embedded-server.ts';
import { runMigrations } from './migrations.ts';
import { openDatabase } from './open-database.ts';
import { WireClient, wire } from './test-support/wire-client.ts';
import type { Db } from './types.ts';

let server: EmbeddedServer;
let db: Db;

beforeAll(async () => {
  server = await startEmbeddedServer({ port: 0, maxConnections: 40 });
  db = await openDatabase({ databaseUrl: server.url, poolSize: 10 });
});
afterAll(async () => {
  await db?.close();
  await server?.close();
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('embedded server', () => {
  it('binds a free port when asked for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
  });

  it('answers many concurrent parameterised queries through a pool, each with its own result', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        // Different statements with different parameter counts: a statement bound to another
        // connection's parameters would fail or return the wrong row.
        i % 2 === 0
          ? db.query<{ n: number; s: string }>('select $1::int4 as n, $2::text as s', [i, `v${i}`])
          : db.query<{ n: number; s: string }>(`select $1::int4 + 0 as n, 'v' || $1::text as s, ${i} as tag`, [i]),
      ),
    );
    results.forEach((r, i) => {
      expect(r.rows[0]).toMatchObject({ n: i, s: `v${i}` });
    });
    expect(server.stats().connections).toBeGreaterThan(1);
  });

  it('isolates concurrent transactions from different connections', async () => {
    await db.query(`create table if not exists counters (id text primary key, n int not null)`);
    await db.query(`insert into counters values ('c', 0) on conflict (id) do update set n = 0`);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>(`select n from counters where id = 'c'`);
          // Yield between the read and the write so other connections get every chance to interleave.
          await new Promise((resolve) => setImmediate(resolve));
          await tx.query(`update counters set n = $1 where id = 'c'`, [rows[0]!.n + 1]);
        }),
      ),
    );
    expect((await db.query(`select n from counters where id = 'c'`)).rows).toEqual([{ n: 20 }]);
  });

  it("never runs another connection's statement between Parse and Sync (pglite#1046)", async () => {
    const a = await WireClient.open(server.port);
    const b = await WireClient.open(server.port);
    try {
      a.send(wire.parse('select 1 as from_a'), wire.flush());
      await a.waitFor('1'); // ParseComplete: A is mid-cycle and holds the session
      const queuedBefore = server.stats().queuedMessages;
      b.send(wire.parse('select 2 as from_b'), wire.bind(), wire.describePortal(), wire.execute(), wire.sync());
      await waitUntil(() => server.stats().queuedMessages > queuedBefore);
      a.send(wire.bind(), wire.describePortal(), wire.execute(), wire.sync());

      expect(WireClient.columnNames(await a.waitFor('T'))).toEqual(['from_a']);
      expect(WireClient.firstColumn(await a.waitFor('D'))).toBe('1');
      expect(WireClient.columnNames(await b.waitFor('T'))).toEqual(['from_b']);
      expect(WireClient.firstColumn(await b.waitFor('D'))).toBe('2');
    } finally {
      a.close();
      b.close();
    }
  });

  it('rolls back the transaction of a client that disconnects inside it and serves the others', async () => {
    const id = `gone-${crypto.randomUUID()}`;
    const client = await WireClient.open(server.port);
    client.send(wire.query(`begin; insert into sessions (id, platform, account, chat_id) values ('${id}', 'web', 'a', 'c')`));
    await client.waitFor('Z');
    const waiting = db.query('select count(*) as n from sessions where id = $1', [id]); // queued behind the open tx
    client.close();
    expect((await waiting).rows).toEqual([{ n: 0 }]);
  });

  it('aborts the unfinished statement of a client that disconnects before Sync', async () => {
    const id = `nosync-${crypto.randomUUID()}`;
    const client = await WireClient.open(server.port);
    client.send(
      wire.parse(`insert into sessions (id, platform, account, chat_id) values ('${id}', 'web', 'a', 'c')`),
      wire.bind(),
      wire.execute(),
      wire.flush(),
    );
    await client.waitFor('C'); // CommandComplete: executed, but the implicit transaction is open
    client.close();
    // Queued behind the departed client until its detach has cleaned up after it.
    expect((await db.query('select count(*) as n from sessions where id = $1', [id])).rows).toEqual([{ n: 0 }]);
  });

  it('refuses connections beyond maxConnections with SQLSTATE 53300', async () => {
    const small = await startEmbeddedServer({ port: 0, maxConnections: 1 });
    const first = new pg.Client({ connectionString: small.url });
    const second = new pg.Client({ connectionString: small.url });
    try {
      await first.connect();
      const err = await second.connect().catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('53300');
      expect((await first.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await first.end();
      await small.close();
    }
  });

  it('applies each migration once when several processes migrate at the same time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-migrations-'));
    const table = `mig_${crypto.randomUUID().replaceAll('-', '')}`;
    try {
      await writeFile(join(dir, '900_create.sql'), `create table ${table} (n int not null);`);
      await writeFile(join(dir, '901_seed.sql'), `insert into ${table} values (1); insert into ${table} values (2);`);
      const dbs = await Promise.all([1, 2, 3].map(() => openDatabase({ databaseUrl: server.url, poolSize: 2 })));
      try {
        await Promise.all(dbs.map((d) => runMigrations(d, undefined, { dir })));
      } finally {
        await Promise.all(dbs.map((d) => d.close()));
      }
      expect((await db.query(`select count(*) as n from ${table}`)).rows).toEqual([{ n: 2 }]);
      const applied = await db.query(`select name from schema_migrations where name like '90%' order by name`);
      expect(applied.rows).toEqual([{ name: '900_create.sql' }, { name: '901_seed.sql' }]);
    } finally {
      await db.query(`drop table if exists ${table}; delete from schema_migrations where name like '90%'`);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a failing migration and records nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-migrations-'));
    const table = `bad_${crypto.randomUUID().replaceAll('-', '')}`;
    try {
      await writeFile(join(dir, '950_bad.sql'), `create table ${table} (n int); select * from no_such_table;`);
      const err = await runMigrations(db, undefined, { dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect((err as SwitchboardError).code).toBe('handler_error');
      expect((err as Error).message).toContain('950_bad.sql');
      const exists = await db.query(`select to_regclass($1) as t`, [table]);
      expect(exists.rows).toEqual([{ t: null }]);
      expect((await db.query(`select name from schema_migrations where name = '950_bad.sql'`)).rows).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
