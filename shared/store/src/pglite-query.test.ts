import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './open-database.ts';
import { MAX_PREPARED_STATEMENTS, serializeParam } from './pglite-query.ts';
import type { Db } from './types.ts';

async function prepared(db: Db): Promise<string[]> {
  // No parameters: the simple protocol, which never prepares anything itself.
  const { rows } = await db.query<{ statement: string }>(`select statement from pg_prepared_statements where name like '__switchboard_%' order by statement`);
  return rows.map((r) => r.statement);
}

describe.each([
  ['in-process', false],
  ['worker thread', true],
] as const)('PGlite statements with parameters (%s)', (_name, thread) => {
  let db: Db;
  beforeAll(async () => {
    db = await openDatabase({ thread });
  });
  afterAll(async () => {
    await db.close();
  });

  it('parses a statement once and reuses it', async () => {
    const sql = 'select $1::int + 1 as n';
    for (let i = 0; i < 3; i++) expect((await db.query(sql, [i])).rows).toEqual([{ n: i + 1 }]);
    expect((await prepared(db)).filter((s) => s === sql)).toHaveLength(1);
  });

  it('plans every execution for its own values (no generic plan that could scan where an index fits)', async () => {
    const sql = 'select count(*)::int as n from messages where session_id = $1';
    for (let i = 0; i < 8; i++) await db.query(sql, [`s${i}`]);
    const { rows } = await db.query<{ generic_plans: number; custom_plans: number }>(
      `select generic_plans, custom_plans from pg_prepared_statements where statement = '${sql}'`,
    );
    expect(rows).toEqual([{ generic_plans: 0, custom_plans: 8 }]);
  });

  it('recovers when Postgres dropped its prepared statements', async () => {
    const sql = 'select $1::text as t';
    await db.query(sql, ['a']);
    await db.query('deallocate all');
    expect((await db.query(sql, ['b'])).rows).toEqual([{ t: 'b' }]);
  });

  it('keeps nothing of a statement that failed to parse or bind, and the SQL works once fixed', async () => {
    await expect(db.query('selec $1::int', [1])).rejects.toMatchObject({ code: '42601' });
    const sql = 'select $1::int as n';
    await expect(db.query(sql, ['not a number'])).rejects.toMatchObject({ code: '22P02' });
    expect((await db.query(sql, [7])).rows).toEqual([{ n: 7 }]);
    expect(await prepared(db)).not.toContain('selec $1::int');
  });

  it(`keeps at most ${MAX_PREPARED_STATEMENTS} statements prepared`, async () => {
    for (let i = 0; i < MAX_PREPARED_STATEMENTS + 20; i++) await db.query(`select $1::int + ${i} as n`, [1]);
    // Evicted statements are closed with the next message.
    await db.query('select $1::int as n', [1]);
    expect((await prepared(db)).length).toBeLessThanOrEqual(MAX_PREPARED_STATEMENTS);
    expect((await db.query('select $1::int + 0 as n', [1])).rows).toEqual([{ n: 1 }]);
  });

  it('runs prepared statements inside a transaction and rolls them back with it', async () => {
    const id = `prep-${crypto.randomUUID()}`;
    const insert = `insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`;
    await db.query('select count(*) from sessions where id = $1', [id]);
    await expect(
      db.transaction(async (tx) => {
        await tx.query(insert, [id]);
        expect((await tx.query<{ n: number }>('select count(*)::int as n from sessions where id = $1', [id])).rows).toEqual([{ n: 1 }]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await db.query<{ n: number }>('select count(*)::int as n from sessions where id = $1', [id])).rows).toEqual([{ n: 0 }]);
    // The statement prepared inside the rolled-back transaction still works.
    await db.transaction(async (tx) => {
      await tx.query(insert, [id]);
    });
    expect((await db.query<{ n: number }>('select count(*)::int as n from sessions where id = $1', [id])).rows).toEqual([{ n: 1 }]);
  });
});

describe('serializeParam', () => {
  it('formats values by JS type, as node-postgres does', () => {
    expect(serializeParam(null)).toBeNull();
    expect(serializeParam(undefined)).toBeNull();
    expect(serializeParam('x')).toBe('x');
    expect(serializeParam(1.5)).toBe('1.5');
    expect(serializeParam(2n ** 60n)).toBe('1152921504606846976');
    expect(serializeParam(true)).toBe('true');
    expect(serializeParam(new Date('2025-01-02T03:04:05.006Z'))).toBe('2025-01-02T03:04:05.006Z');
    expect(serializeParam(Buffer.from('hi'))).toBe('\\x6869');
    expect(serializeParam(['a', 'b "c"', 'd\\e', null, ['f']])).toBe('{"a","b \\"c\\"","d\\\\e",NULL,{"f"}}');
    expect(serializeParam({ k: [1] })).toBe('{"k":[1]}');
  });
});
