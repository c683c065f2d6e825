import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './open-database.ts';
import type { PGlite } from '@electric-sql/pglite';
import { GENERIC_PLAN_MARK, MAX_PREPARED_STATEMENTS, PgliteSession, REPLAN_AFTER_EXECUTIONS, REPLAN_AFTER_MS, serializeParam } from './pglite-query.ts';
import { TRANSCRIPT_HISTORY_SQL } from './transcript-sql.ts';
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

  const plans = async (sql: string) =>
    (await db.query<{ generic_plans: number; custom_plans: number }>(`select generic_plans, custom_plans from pg_prepared_statements where statement = '${sql}'`)).rows;

  it('plans every execution of an unmarked statement for its own values, also after a marked one ran', async () => {
    const sql = 'select count(*)::int as n from messages where session_id = $1';
    const marked = `${GENERIC_PLAN_MARK} select $1::int as n`;
    for (let i = 0; i < 8; i++) {
      await db.query(sql, [`s${i}`]);
      await db.query(marked, [i]);
    }
    expect(await plans(sql)).toEqual([{ generic_plans: 0, custom_plans: 8 }]);
    expect((await plans(marked))[0]!.generic_plans).toBeGreaterThan(0);
    // Inside a transaction, marked or not, and after it rolled back.
    const inTx = 'select count(*)::int as n from sessions where id = $1';
    await db.query(marked, [0]);
    await expect(
      db.transaction(async (tx) => {
        for (let i = 0; i < 8; i++) await tx.query(inTx, [`s${i}`]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    for (let i = 0; i < 8; i++) await db.query(sql, [`t${i}`]);
    expect(await plans(sql)).toEqual([{ generic_plans: 0, custom_plans: 16 }]);
    expect(await plans(inTx)).toEqual([{ generic_plans: 0, custom_plans: 8 }]);
  });

  /** The plan a marked statement, prepared by an earlier call, keeps (EXPLAIN EXECUTE under its settings). */
  const keptPlan = async (sql: string, args: string) => {
    const { rows } = await db.query<{ name: string; generic_plans: number }>(`select name, generic_plans from pg_prepared_statements where statement = $1`, [sql]);
    expect(rows).toHaveLength(1);
    await db.query('set plan_cache_mode = auto');
    const explained = await db.query<{ 'QUERY PLAN': string }>(`explain execute ${rows[0]!.name}(${args})`);
    await db.query('set plan_cache_mode = force_custom_plan');
    return { generic: rows[0]!.generic_plans, plan: explained.rows.map((r) => r['QUERY PLAN']).join('\n') };
  };
  const setting = async (name: string) => (await db.query<Record<string, string>>(`show ${name}`)).rows[0]![name];

  it('keeps a generic plan of a marked statement, made on its index even while the table is empty', async () => {
    // Analyzed while empty, like the tables of a fresh data directory (the template is vacuumed):
    // planned for that size, the plan would be a sequential scan, which reads every row the table
    // gains afterwards for each key, for as long as the plan lives.
    await db.query(`create table replan_probe (k text, seq int, primary key (k, seq)); analyze replan_probe`);
    const sql = `${GENERIC_PLAN_MARK} select coalesce(max(seq), 0)::int as n from replan_probe where k = $1`;
    const unmarked = 'select coalesce(max(seq), 0)::int as n from replan_probe where k = $1 and $2::int = 1';
    for (let i = 0; i < 10; i++) {
      await db.query(sql, ['k1']);
      await db.query(unmarked, ['k1', 1]);
    }
    const early = await keptPlan(sql, `'k1'`);
    expect(early.generic).toBeGreaterThan(0); // planning is skipped once the generic plan is kept
    expect(early.plan).toMatch(/Index Only Scan Backward using replan_probe_pkey/);
    // Every other statement is planned as Postgres would: for an empty table, a sequential scan.
    expect(await setting('enable_seqscan')).toBe('on');
    expect(await setting('plan_cache_mode')).toBe('force_custom_plan');
    expect((await db.query<{ 'QUERY PLAN': string }>(`explain select * from replan_probe where k = 'k1'`)).rows[0]!['QUERY PLAN']).toMatch(/Seq Scan on replan_probe/);
    // A marked statement that fails leaves the session's settings as they were too.
    await expect(db.query(`${GENERIC_PLAN_MARK} select 1 / $1::int as n`, [0])).rejects.toMatchObject({ code: '22012' });
    await expect(db.query(`${GENERIC_PLAN_MARK} selec $1::int`, [1])).rejects.toMatchObject({ code: '42601' });
    expect(await setting('enable_seqscan')).toBe('on');
    expect(await setting('plan_cache_mode')).toBe('force_custom_plan');
    await db.query(`insert into replan_probe select 'k' || (i % 500), i from generate_series(1, 20000) i`);
    expect((await db.query(sql, ['k7'])).rows).toEqual([{ n: 19507 }]);
    await db.query(`drop table replan_probe`);
  });

  it("keeps the turn's history read on the messages index when it was first planned on an empty table", async () => {
    // The tables of a fresh data dir: the first turns plan it while `messages` is (nearly) empty.
    await db.query(`insert into sessions (id, platform, account, chat_id) values ('plan-s', 'web', 'local', 'plan-s') on conflict do nothing`);
    for (let i = 0; i < 10; i++) await db.query(TRANSCRIPT_HISTORY_SQL, ['plan-s', 100]);
    const { generic, plan } = await keptPlan(TRANSCRIPT_HISTORY_SQL, `'plan-s', 100`);
    expect(generic).toBeGreaterThan(0);
    expect(plan).toMatch(/Index Scan Backward using messages_session_id_seq_key on messages/);
    expect(plan).not.toMatch(/Seq Scan on messages/);
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

describe('PgliteSession', () => {
  it(`parses a statement that may keep a generic plan again after ${REPLAN_AFTER_EXECUTIONS} uses or ${REPLAN_AFTER_MS} ms, closing the old one`, () => {
    let now = 0;
    const session = new PgliteSession({} as PGlite, { now: () => now });
    const q = `${GENERIC_PLAN_MARK} q`;
    const first = session.claim(q);
    expect(first.fresh).toBe(true);
    for (let i = 1; i < REPLAN_AFTER_EXECUTIONS; i++) expect(session.claim(q)).toEqual({ name: first.name, fresh: false });
    const second = session.claim(q);
    expect(second.fresh).toBe(true);
    expect(session.takeCloses()).toEqual([first.name]);
    now += REPLAN_AFTER_MS - 1;
    expect(session.claim(q)).toEqual({ name: second.name, fresh: false });
    now += 1;
    expect(session.claim(q).fresh).toBe(true);
    expect(session.takeCloses()).toEqual([second.name]);
    expect(session.preparedCount).toBe(1);
    // A statement planned per execution keeps its name: it has no generic plan to outlive.
    const plain = session.claim('p');
    now += REPLAN_AFTER_MS;
    for (let i = 0; i < REPLAN_AFTER_EXECUTIONS; i++) expect(session.claim('p')).toEqual({ name: plain.name, fresh: false });
    expect(session.takeCloses()).toEqual([]);
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
