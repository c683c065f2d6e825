import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyTemplate } from './data-dir.ts';
import { openDatabase } from './open-database.ts';
import { ensureTemplate } from './template-cache.ts';
import { ThreadedPgliteDatabase } from './threaded-pglite-database.ts';
import type { Db } from './types.ts';

/** A statement that keeps PGlite busy for a good while (~0.5–2 s of WebAssembly on this machine). */
const HEAVY_SQL = 'select sum(x::int8 * x % 7) as s from generate_series(1, 3000000) as x';

/** Threads of this process (Linux), to prove a closed database leaves no thread behind. */
function threadCount(): number | undefined {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` while a 5 ms interval timer ticks; returns how late the latest tick was (the longest
 * time the event loop could not run a timer) and how long `work` took.
 */
async function longestTimerGap(work: () => Promise<unknown>): Promise<{ gapMs: number; workMs: number }> {
  let last = performance.now();
  let gapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gapMs = Math.max(gapMs, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const now = performance.now();
  return { gapMs: Math.max(gapMs, now - last), workMs: now - started };
}

const opened: Db[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

async function open(thread: boolean): Promise<Db> {
  const db = await openDatabase({ thread });
  opened.push(db);
  return db;
}

describe('PGlite in a worker thread', () => {
  it('keeps the main event loop responsive while a heavy query runs', async () => {
    const db = await open(true);
    await db.query('select 1'); // startup work out of the way
    const { gapMs, workMs } = await longestTimerGap(() => db.query(HEAVY_SQL));
    // The query itself is long, so a blocked loop would show a gap of about `workMs`. (No bound in
    // ms: on a loaded machine the timer's own gaps grow, as the query's time does.)
    expect(workMs).toBeGreaterThan(300);
    expect(gapMs).toBeLessThan(workMs / 2);
  });

  it('blocks the event loop when PGlite runs on the calling thread (the problem the worker solves)', async () => {
    const db = await open(false);
    await db.query('select 1');
    const { gapMs, workMs } = await longestTimerGap(() => db.query(HEAVY_SQL));
    expect(workMs).toBeGreaterThan(300);
    expect(gapMs).toBeGreaterThan(workMs * 0.8);
  });

  it('fails calls made after close, and close leaves no worker thread running', async () => {
    await (await openDatabase({ thread: true })).close(); // lazily started pools (libuv, V8) exist from here on
    const before = threadCount();
    const db = await openDatabase({ thread: true });
    expect(db).toBeInstanceOf(ThreadedPgliteDatabase);
    const during = threadCount();
    await db.query('select 1');
    await db.close();
    await expect((db as ThreadedPgliteDatabase).exited).resolves.toBe(0);
    await expect(db.query('select 1')).rejects.toThrow('PGlite is closed');
    await db.close(); // idempotent
    if (before !== undefined && during !== undefined) {
      expect(during).toBeGreaterThan(before);
      expect(threadCount()).toBe(before);
    }
  });

  it('collects the start-up garbage of its thread on request and keeps serving', async () => {
    const db = (await open(true)) as ThreadedPgliteDatabase;
    await db.query('select 1');
    const before = await db.heapStatistics();
    await db.collectStartupGarbage();
    const after = await db.heapStatistics();
    // Opening (PGlite's modules, the data dir, migrations) leaves garbage and a grown young generation.
    expect(after.total_heap_size).toBeLessThan(before.total_heap_size);
    expect(after.used_heap_size).toBeLessThan(before.used_heap_size);
    await expect(db.query('select 2 as n')).resolves.toEqual({ rows: [{ n: 2 }] });
  });

  it('rejects a parameter that cannot cross threads without breaking the database', async () => {
    const db = await open(true);
    await expect(db.query('select $1::text as v', [() => 'nope'])).rejects.toThrow();
    await expect(db.query('select $1::text as v', ['fine'])).resolves.toEqual({ rows: [{ v: 'fine' }] });
  });
});

describe.each([
  ['on the calling thread', false],
  ['in a worker thread', true],
])('one PGlite session, %s', (_where, thread) => {
  let db: Db;
  beforeAll(async () => {
    db = await openDatabase({ thread });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('gives a transaction the session alone: other callers wait for its commit', async () => {
    const id = `tx-${crypto.randomUUID()}`;
    const events: string[] = [];
    let outside: Promise<unknown> | undefined;
    // Another caller: a context from outside the transaction callback, which may use `db`.
    const asAnotherCaller = AsyncLocalStorage.snapshot();
    await db.transaction(async (tx) => {
      await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
      outside = asAnotherCaller(() => db.query<{ n: number }>('select count(*) as n from sessions where id = $1', [id]).then(({ rows }) => {
        events.push(`outside saw ${rows[0]!.n}`);
      }));
      // Give the outside query every chance to run inside the transaction if it could.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx.query('select 1');
      events.push('transaction done');
    });
    await outside;
    expect(events).toEqual(['transaction done', 'outside saw 1']);
  });

  it('rolls back a transaction whose callback throws, and runs queued callers afterwards', async () => {
    const id = `rb-${crypto.randomUUID()}`;
    const failure = new Error('callback failed');
    const queued: Array<Promise<unknown>> = [];
    const asAnotherCaller = AsyncLocalStorage.snapshot();
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
        queued.push(asAnotherCaller(() => db.query('select count(*) as n from sessions where id = $1', [id])));
        throw failure;
      }),
    ).rejects.toBe(failure);
    await expect(queued[0]).resolves.toEqual({ rows: [{ n: 0 }] });
  });

  it('refuses a transaction handle used after its transaction ended', async () => {
    let leaked: { query(sql: string): Promise<unknown> } | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.query('select 1')).rejects.toThrow('Transaction is closed');
    await expect(db.query('select 1 as ok')).resolves.toEqual({ rows: [{ ok: 1 }] });
  });

  it('answers concurrent callers each with its own result', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => db.query<{ n: number; s: string }>('select $1::int as n, $2::text as s', [i, `v${i}`])),
    );
    expect(results.map((r) => r.rows[0])).toEqual(Array.from({ length: 200 }, (_, i) => ({ n: i, s: `v${i}` })));
  });
});

describe('closing PGlite in a worker thread', () => {
  it('lets an open transaction finish, then closes', async () => {
    const db = await openDatabase({ thread: true });
    const id = `close-${crypto.randomUUID()}`;
    let closed: Promise<void> | undefined;
    await db.transaction(async (tx) => {
      closed = db.close();
      await tx.query(`insert into sessions (id, platform, account, chat_id) values ($1, 'web', 'a', 'c')`, [id]);
    });
    await closed;
    await expect(db.query('select 1')).rejects.toThrow('PGlite is closed');
  });
});

describe.each([
  ['on the calling thread', false],
  ['in a worker thread', true],
])('a data dir PGlite cannot start on, PGlite %s', (_where, thread) => {
  it('fails the open, stops the engine and releases the data dir', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sb-store-bad-'));
    try {
      const dataDir = join(root, 'pglite');
      copyTemplate(await ensureTemplate(), dataDir);
      writeFileSync(join(dataDir, 'PG_VERSION'), '9\n'); // a cluster of another major version
      const before = threadCount();
      await expect(openDatabase({ dataDir, thread })).rejects.toThrow();
      expect(existsSync(join(dataDir, 'switchboard.lock'))).toBe(false);
      if (before !== undefined) expect(threadCount()).toBe(before);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
