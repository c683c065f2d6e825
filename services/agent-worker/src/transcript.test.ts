import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, startEmbeddedServer, TRANSCRIPT_COMMIT_BATCH_SQL, TRANSCRIPT_COMMIT_SQL, type Db } from '@switchboard/store';
import { TranscriptStore, type CommitInput } from './transcript.ts';

/** In-process PGlite, and Postgres' wire protocol (the embedded server), as separate services use it. */
const backends: Array<[string, () => Promise<{ db: Db; close(): Promise<void> }>]> = [
  [
    'pglite',
    async () => {
      const db = await openDatabase({});
      return { db, close: () => db.close() };
    },
  ],
  [
    'pg',
    async () => {
      const server = await startEmbeddedServer({ port: 0, maxConnections: 8 });
      const db = await openDatabase({ databaseUrl: server.url, poolSize: 4 });
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

/** The database of the backend under test (set by the suite's `beforeAll`). */
let db: Db;

/** `db`, recording which commit statement each query was, and holding the first commit until `release`. */
function gatedDb(): { db: Db; statements: string[]; release: () => void } {
  const statements: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wrapped: Db = {
    kind: db.kind,
    transaction: (fn) => db.transaction(fn),
    ping: () => db.ping(),
    close: async () => {},
    async query(sql, params) {
      const name = sql === TRANSCRIPT_COMMIT_SQL ? 'one' : sql === TRANSCRIPT_COMMIT_BATCH_SQL ? `batch of ${JSON.parse(params![0] as string).length}` : 'other';
      statements.push(name);
      if (statements.length === 1) await gate;
      return db.query(sql, params);
    },
  };
  return { db: wrapped, statements, release };
}

let n = 0;
function turn(sessionKey: string, fence: number, text: string, over: Partial<CommitInput> = {}): CommitInput {
  n++;
  return {
    sessionKey,
    fence,
    session: { platform: 'web', account: 'local', chatId: sessionKey, userId: `u-${sessionKey}` },
    turnId: `turn-${n}`,
    inboundIds: [`in-${n}`, `in-${n}-b`],
    replyText: `echo: ${text}`,
    model: 'fake',
    promptTokens: 10,
    completionTokens: 5,
    rows: [
      { role: 'user', content: text, sourceId: `in-${n}`, userId: `u-${sessionKey}`, tokens: 2 },
      { role: 'assistant', content: `echo: ${text}`, tokens: 3 },
    ],
    ...over,
  };
}

async function transcript(sessionKey: string): Promise<string[]> {
  const { rows } = await db.query<{ seq: number; role: string; content: string; source_id: string | null }>(
    `SELECT seq, role, content, source_id FROM messages WHERE session_id = $1 ORDER BY seq`,
    [sessionKey],
  );
  return rows.map((r) => `${r.seq} ${r.role} ${r.content}${r.source_id ? ` (${r.source_id})` : ''}`);
}

describe.each(backends)('TranscriptStore commits (%s)', (_name, start) => {
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await start());
  });
  afterAll(async () => {
    await close();
  });

  it('refuses a stalled claim’s commit once a newer claim raised the fence, before it committed anything', async () => {
    const store = new TranscriptStore(db);
    const stale = turn('r-raised', 4, 'the stalled run of the old turn');
    await store.raiseFence('r-raised', 6, stale.session); // the batch claimed anew (interrupt mode)
    await store.raiseFence('r-raised', 5, stale.session); // never lowered
    expect(await store.commit(stale)).toMatchObject({ outcome: 'fenced' });
    expect(await store.commit(turn('r-raised', 6, 'the new turn'))).toMatchObject({ outcome: 'committed' });
    expect(await transcript('r-raised')).toEqual([expect.stringContaining('user the new turn'), '2 assistant echo: the new turn']);
  });

  it('commits a turn whose earlier message a stalled run of the old claim wrote first, without writing it twice (alone and in a batch)', async () => {
    const store = new TranscriptStore(db);
    for (const session of ['r-race', 'r-race-batch']) {
      // The stalled run commits the first message with its own reply before the new claim raises the
      // fence. (In the batch case the first commit goes alone and the other two wait, then go together.)
      const stale = turn(session, 4, 'first');
      expect(await store.commit(stale)).toMatchObject({ outcome: 'committed' });
      const first = stale.rows[0]!;
      const next = turn(session, 6, 'second');
      next.rows = [first, ...next.rows];
      const commits = session === 'r-race' ? [store.commit(next)] : [store.commit(turn('r-race-other', 1, 'busy')), store.commit(turn('r-race-another', 1, 'busy')), store.commit(next)];
      // Committed, but one row short: the worker then does not extend its cached history with it.
      expect((await Promise.all(commits)).at(-1)).toMatchObject({ outcome: 'committed', written: 2 });
      expect(await transcript(session)).toEqual([
        `1 user first (${first.sourceId})`,
        '2 assistant echo: first',
        expect.stringMatching(/^4 user second \(in-\d+\)$/),
        '5 assistant echo: second',
      ]);
    }
  });

  it('commits that wait while one runs go together in one statement, each with its own outcome', async () => {
    const setup = new TranscriptStore(db);
    // A session a newer claim has committed for (fence 9), and a turn that is already written.
    await setup.commit(turn('g-fenced', 9, 'newer claim'));
    const done = turn('g-done', 1, 'written before');
    expect(await setup.commit(done)).toEqual({ outcome: 'committed', baseSeq: 0, written: 2 });

    const { db: gated, statements, release } = gatedDb();
    const store = new TranscriptStore(gated, { maxInFlight: 1 });
    const first = store.commit(turn('g-first', 1, 'alone'));
    // Out of session order on purpose: the batch sorts its turns by session, the answers must not.
    const zeta1 = turn('g-zeta', 1, 'zeta one');
    const alpha = turn('g-alpha', 1, 'alpha one');
    const zeta2 = turn('g-zeta', 2, 'zeta two');
    const waiting = [zeta1, alpha, zeta2, turn('g-fenced', 3, 'stale claim'), done].map((t) => store.commit(t));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(statements).toEqual(['one']); // the others wait for it
    release();

    expect(await first).toEqual({ outcome: 'committed', baseSeq: 0, written: 2 });
    expect(await Promise.all(waiting)).toEqual([
      { outcome: 'committed', baseSeq: 0, written: 2 },
      { outcome: 'committed', baseSeq: 0, written: 2 },
      { outcome: 'committed', baseSeq: 2, written: 2 },
      { outcome: 'fenced', baseSeq: 2, written: 0 },
      { outcome: 'already_committed', baseSeq: 2, written: 0 },
    ]);
    // The session's second turn waited for the next statement: one turn per session in a batch.
    expect(statements).toEqual(['one', 'batch of 4', 'one']);

    const lines = (t: CommitInput) => [`${t.rows[0]!.content} (${t.inboundIds[0]})`, `echo: ${t.rows[0]!.content}`];
    expect(await transcript('g-zeta')).toEqual([...lines(zeta1), ...lines(zeta2)].map((l, i) => `${i + 1} ${i % 2 ? 'assistant' : 'user'} ${l}`));
    expect(await transcript('g-alpha')).toEqual(lines(alpha).map((l, i) => `${i + 1} ${i % 2 ? 'assistant' : 'user'} ${l}`));
    expect(await transcript('g-fenced')).toHaveLength(2); // the newer claim's turn only
    expect(await transcript('g-done')).toHaveLength(2); // written once
    const { rows: turns } = await db.query(
      `SELECT id, session_id, fence, inbound_ids, reply_text, model, prompt_tokens, completion_tokens FROM turns WHERE session_id = 'g-alpha'`,
    );
    expect(turns).toEqual([
      { id: alpha.turnId, session_id: 'g-alpha', fence: 1, inbound_ids: alpha.inboundIds, reply_text: 'echo: alpha one', model: 'fake', prompt_tokens: 10, completion_tokens: 5 },
    ]);
    const { rows: sessions } = await db.query(`SELECT id, fence, user_id FROM sessions WHERE id IN ('g-zeta', 'g-fenced') ORDER BY id`);
    expect(sessions).toEqual([
      { id: 'g-fenced', fence: 9, user_id: 'u-g-fenced' },
      { id: 'g-zeta', fence: 2, user_id: 'u-g-zeta' },
    ]);
  });

  it("stores U+0000 and unpaired surrogates (a shell's output, a webhook) as U+FFFD instead of failing the turn, alone and in a batch", async () => {
    const unstorable = (sessionKey: string, fence: number) =>
      turn(sessionKey, fence, 'nul \u0000 in', {
        replyText: 'lone \ud800 out',
        rows: [
          { role: 'user', content: 'nul \u0000 in', sourceId: `src-${sessionKey}-${fence}`, tokens: 2 },
          { role: 'assistant', content: '', toolCalls: [{ id: 'c1', type: 'function', function: { name: 'shell', arguments: '{"cmd":"printf \u0000"}' } }] },
          { role: 'tool', content: 'bin\u0000ary \udc00', toolCallId: 'c1' },
          { role: 'assistant', content: 'lone \ud800 out' },
        ],
      });
    const { db: gated, release } = gatedDb();
    const store = new TranscriptStore(gated, { maxInFlight: 1 });
    const results = Promise.all([store.commit(unstorable('u-first', 1)), store.commit(unstorable('u-second', 1)), store.commit(unstorable('u-third', 1))]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    expect((await results).map((r) => r.outcome)).toEqual(['committed', 'committed', 'committed']);
    for (const session of ['u-first', 'u-second', 'u-third']) {
      expect(await transcript(session)).toEqual([`1 user nul \ufffd in (src-${session}-1)`, '2 assistant ', '3 tool bin\ufffdary \ufffd', '4 assistant lone \ufffd out']);
      const { rows } = await db.query<{ reply_text: string }>(`SELECT reply_text FROM turns WHERE session_id = $1`, [session]);
      expect(rows).toEqual([{ reply_text: 'lone \ufffd out' }]);
      const calls = await db.query<{ tool_calls: Array<{ function: { arguments: string } }> }>(`SELECT tool_calls FROM messages WHERE session_id = $1 AND seq = 2`, [session]);
      expect(calls.rows[0]!.tool_calls[0]!.function.arguments).toBe('{"cmd":"printf \ufffd"}');
    }
  });

  it('a batch that fails commits each of its turns alone: only the bad turn fails, and it writes nothing', async () => {
    const { db: gated, statements, release } = gatedDb();
    const store = new TranscriptStore(gated, { maxInFlight: 1 });
    const first = store.commit(turn('f-first', 1, 'alone'));
    const good = store.commit(turn('f-good', 1, 'fine'));
    const bad = turn('f-bad', 1, 'broken');
    bad.rows.push({ role: 'narrator' as 'user', content: 'not a role the schema allows' });
    const failed = store.commit(bad).then(
      () => undefined,
      (err: unknown) => err, // settled before the others are awaited
    );
    const alsoGood = store.commit(turn('f-also', 1, 'fine too'));
    release();

    await first;
    expect(await good).toEqual({ outcome: 'committed', baseSeq: 0, written: 2 });
    expect(await alsoGood).toEqual({ outcome: 'committed', baseSeq: 0, written: 2 });
    expect(await failed).toMatchObject({ code: '23514' });
    expect(statements).toEqual(['one', 'batch of 3', 'one', 'one', 'one']);
    expect(await transcript('f-good')).toHaveLength(2);
    expect(await transcript('f-bad')).toEqual([]);
    const { rows } = await db.query(`SELECT 1 FROM turns WHERE session_id = 'f-bad' UNION ALL SELECT 1 FROM sessions WHERE id = 'f-bad'`);
    expect(rows).toEqual([]);
  });
});
