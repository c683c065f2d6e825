import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { isUniqueViolation, sqlState } from './db-errors.ts';
import { startEmbeddedServer, type EmbeddedServer } from './embedded-server.ts';
import { listMigrations, runMigrations } from './migrations.ts';
import { openDatabase } from './open-database.ts';
import { toVectorLiteral } from './type-parsers.ts';
import type { Db } from './types.ts';

/*
 * One suite, three backends: PGlite on the calling thread, PGlite in a worker thread, and
 * node-postgres over the wire to the embedded server. Whatever passes on one must pass on the
 * others, type mapping included.
 */

interface Backend {
  db: Db;
  close(): Promise<void>;
}

const backends: Array<[string, () => Promise<Backend>]> = [
  [
    'pglite (in-process)',
    async () => {
      const db = await openDatabase({ thread: false });
      return { db, close: () => db.close() };
    },
  ],
  [
    'pglite (worker thread)',
    async () => {
      const db = await openDatabase({ thread: true });
      return { db, close: () => db.close() };
    },
  ],
  [
    'pg (wire protocol to the embedded server)',
    async () => {
      const server: EmbeddedServer = await startEmbeddedServer({ port: 0, maxConnections: 32 });
      const db = await openDatabase({ databaseUrl: server.url, poolSize: 8 });
      return {
        db,
        close: async () => {
          await db.close();
          await server.close();
        },
      };
    },
  ],
];

describe.each(backends)('%s', (_name, start) => {
  let backend: Backend;
  let db: Db;

  beforeAll(async () => {
    backend = await start();
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('applies every migration once and re-running is a no-op', async () => {
    const files = listMigrations().map((m) => m.name);
    const before = await db.query<{ name: string; applied_at: Date }>('select name, applied_at from schema_migrations order by name');
    expect(before.rows.map((r) => r.name)).toEqual(files);

    await runMigrations(db);
    await runMigrations(db);

    const after = await db.query<{ name: string; applied_at: Date }>('select name, applied_at from schema_migrations order by name');
    expect(after.rows).toEqual(before.rows);
    const tables = await db.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['messages', 'sessions', 'turns']));
  });

  it('maps column types to the same JS values', async () => {
    const { rows } = await db.query(`select
      1::int2 as i2, 2::int4 as i4, 42::int8 as i8, 9007199254740993::int8 as big, count(*) as n,
      1.5::float8 as f8, 12.50::numeric as num, true as yes, 'hé'::text as t,
      '{"a":[1,null]}'::jsonb as jb, '[1,2]'::json as js,
      '2024-02-29 23:59:58.123456+02'::timestamptz as tz, '2024-01-02 03:04:05'::timestamp as ts,
      '2024-01-31'::date as d, '1 day 02:00:00'::interval as iv, '\\x00ff'::bytea as bin,
      '{a,"b c",NULL,"d\\"e"}'::text[] as ta, '{{1,2},{3,4}}'::int8[] as ia, '{}'::int4[] as empty,
      '[1,2.5,-3]'::vector as v, array['[1,2]'::vector] as va,
      '00000000-0000-0000-0000-000000000001'::uuid as id, null::text as nothing
      from (values (1), (2)) as x(n)`);
    expect(rows).toEqual([
      {
        i2: 1,
        i4: 2,
        i8: 42,
        big: 9007199254740993n,
        n: 2,
        f8: 1.5,
        num: '12.50',
        yes: true,
        t: 'hé',
        jb: { a: [1, null] },
        js: [1, 2],
        tz: new Date('2024-02-29T21:59:58.123Z'),
        ts: new Date('2024-01-02T03:04:05.000Z'),
        d: '2024-01-31',
        iv: '1 day 02:00:00',
        bin: Buffer.from([0, 255]),
        ta: ['a', 'b c', null, 'd"e'],
        ia: [
          [1, 2],
          [3, 4],
        ],
        empty: [],
        v: [1, 2.5, -3],
        va: [[1, 2]],
        id: '00000000-0000-0000-0000-000000000001',
        nothing: null,
      },
    ]);
  });

  it('binds parameters the same way', async () => {
    const at = new Date('2025-05-06T07:08:09.010Z');
    const { rows } = await db.query(
      `select $1::jsonb as jb, $2::text[] as ta, $3::timestamptz as tz, $4::int8 as i8, $5::vector as v, $6::bool as b, $7::bytea as bin`,
      [JSON.stringify({ k: ['x'] }), ['p', 'q r'], at, 2n ** 60n, toVectorLiteral([0.5, 1]), false, Buffer.from('hi')],
    );
    expect(rows[0]).toEqual({
      jb: { k: ['x'] },
      ta: ['p', 'q r'],
      tz: at,
      i8: 2n ** 60n,
      v: [0.5, 1],
      b: false,
      bin: Buffer.from('hi'),
    });
  });

  it('runs several statements without parameters and returns the last rows', async () => {
    const { rows } = await db.query('select 1 as a; select 2 as b');
    expect(rows).toEqual([{ b: 2 }]);
  });

  it('commits a transaction and returns its value', async () => {
    const id = `commit-${crypto.randomUUID()}`;
    const value = await db.transaction(async (tx) => {
      await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
      return 'done';
    });
    expect(value).toBe('done');
    const { rows } = await db.query('select id from sessions where id = $1', [id]);
    expect(rows).toEqual([{ id }]);
  });

  it('rolls a transaction back when the callback throws', async () => {
    const id = `rollback-${crypto.randomUUID()}`;
    const failure = new Error('handler failed');
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    const { rows } = await db.query('select id from sessions where id = $1', [id]);
    expect(rows).toEqual([]);
  });

  it('rolls back when a statement fails and exposes the SQLSTATE', async () => {
    const id = `dup-${crypto.randomUUID()}`;
    let caught: unknown;
    try {
      await db.transaction(async (tx) => {
        await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
        await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
      });
    } catch (err) {
      caught = err;
    }
    expect(sqlState(caught)).toBe('23505');
    expect(isUniqueViolation(caught)).toBe(true);
    expect((await db.query('select 1 from sessions where id = $1', [id])).rows).toEqual([]);
    await db.ping();
  });

  it('refuses to use the database itself inside its own transaction', async () => {
    const err = await db
      .transaction(async () => {
        await db.query('select 1');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('handler_error');
    // The transaction ended and the database is usable again.
    await expect(db.query('select 1 as ok')).resolves.toEqual({ rows: [{ ok: 1 }] });
  });

  it('stores vectors and orders by cosine distance', async () => {
    const table = `vec_${crypto.randomUUID().replaceAll('-', '')}`;
    await db.query(`create table ${table} (name text primary key, embedding vector(3) not null)`);
    const items: Array<[string, number[]]> = [
      ['east', [1, 0, 0]],
      ['north', [0, 1, 0]],
      ['northeast', [1, 1, 0]],
      ['up', [0, 0, 1]],
    ];
    for (const [name, embedding] of items) {
      await db.query(`insert into ${table} (name, embedding) values ($1, $2)`, [name, toVectorLiteral(embedding)]);
    }
    const { rows } = await db.query<{ name: string; embedding: number[]; distance: number }>(
      `select name, embedding, embedding <=> $1 as distance from ${table} order by embedding <=> $1 limit 3`,
      [toVectorLiteral([0.9, 0.1, 0])],
    );
    expect(rows.map((r) => r.name)).toEqual(['east', 'northeast', 'north']);
    expect(rows[0]!.embedding).toEqual([1, 0, 0]);
    expect(rows[0]!.distance).toBeCloseTo(1 - 0.9 / Math.hypot(0.9, 0.1), 6);
    await db.query(`drop table ${table}`);
  });
});
