import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlmClient } from '@switchboard/llm';
import { createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';
import { MemoryService, type ExtractionMode, type TurnIdentity } from './memory-service.ts';
import { MemoryStore } from './memory-store.ts';
import type { ScopeMarks } from './scope-marks.ts';
import { callKind, commitTurn, fakeExtraction, fakeSummary, recordingLogger } from './test-support.ts';
import { userScope } from './types.ts';
import { deleteUserData } from './user-data.ts';

let db: Db;
let model: FakeOpenAI;
const calls = { extract: 0, summarize: 0, chat: 0 };
/** What each summarize call was asked, as one text. */
const summarizeAsked: string[] = [];
/** What each extract call was asked, as one text. */
const extractAsked: string[] = [];
/** While set, summarize calls fail (HTTP 500). */
let failSummarize = false;
const { logger, lines } = recordingLogger();

beforeAll(async () => {
  [db, model] = await Promise.all([
    openDatabase({}),
    startFakeOpenAI({
      script: (body) => {
        const kind = callKind(body);
        calls[kind]++;
        if (kind === 'summarize') summarizeAsked.push(JSON.stringify(body.messages));
        if (kind === 'extract') extractAsked.push(JSON.stringify(body.messages));
        if (kind === 'summarize' && failSummarize) return { status: 500 };
        return kind === 'extract' ? fakeExtraction(body) : kind === 'summarize' ? fakeSummary(body) : { text: 'ok' };
      },
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

function service(extraction: ExtractionMode, opts: { embeddings?: boolean; marks?: ScopeMarks } = {}): MemoryService {
  const registry = createRegistry({ defaultMetrics: false });
  const embedder = opts.embeddings === false ? undefined : new EmbeddingClient(db, { baseURL: model.url, model: 'fake-embedding' }, memoryMetrics(registry), logger);
  const store = new MemoryStore(db, { logger, registry, embedder, marks: opts.marks });
  const summarizer = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-summarizer', maxRetries: 0, registry, logger });
  return new MemoryService({ db, store, summarizer, extraction, logger });
}
const identity = (key: string, userId: string): TurnIdentity => ({ sessionKey: key, platform: 'web', userId, agent: 'default', personal: true });
const filler = (i: number) => `Question ${i}: tell me about ${'interesting things '.repeat(12)}`;

describe('MemoryService', () => {
  it('extracts a turn’s facts once, however often the turn is replayed or run at once', async () => {
    const memory = service('turn');
    const turn = identity('s-extract', 'ivy');
    await commitTurn(db, { key: turn.sessionKey, userId: 'ivy' }, 't-extract-1', [
      { role: 'user', content: "By the way, my sister's name is Zephyrine." },
      { role: 'assistant', content: 'Nice name!' },
    ]);
    const before = calls.extract;
    await memory.afterTurn(turn, 't-extract-1', 4000);
    await memory.afterTurn(turn, 't-extract-1', 4000); // the resumed turn after a crash
    await Promise.all([memory.afterTurn(turn, 't-extract-1', 4000), memory.afterTurn(turn, 't-extract-1', 4000)]);
    expect(calls.extract - before).toBe(1);
    const stored = await memory.store.list([userScope('web', 'ivy')]);
    expect(stored.map((m) => m.content)).toEqual(["The user's sister's name is Zephyrine."]);
    const { rows } = await db.query<{ source_message_id: number; source_turn_id: string; source: string }>(`SELECT source_message_id, source_turn_id, source FROM memories WHERE user_id = 'ivy'`);
    expect(rows[0]).toMatchObject({ source_turn_id: 't-extract-1', source: 'extract' });
    expect(rows[0]!.source_message_id).toBeGreaterThan(0);
    expect((await memory.recall(turn, "what's my sister called? what is her name")).map((m) => m.content)).toContain("The user's sister's name is Zephyrine.");
  });

  it('marks the scopes of the facts it stored, once they are committed, for the other processes', async () => {
    const marked: string[] = [];
    const marks: ScopeMarks = { read: async (scopes) => scopes.map(() => ''), mark: async (scopes) => void marked.push(...scopes.map((x) => `${x.scope}:${x.scopeId}`)) };
    const memory = service('turn', { marks });
    const turn = identity('s-marks', 'otto');
    await commitTurn(db, { key: turn.sessionKey, userId: 'otto' }, 't-marks-1', [
      { role: 'user', content: "By the way, my sister's name is Wilhelmina." },
      { role: 'assistant', content: 'Lovely.' },
    ]);
    await memory.afterTurn(turn, 't-marks-1', 4000);
    expect(marked).toEqual(['user:web:otto']);
    await memory.afterTurn(turn, 't-marks-1', 4000); // replayed: nothing stored, nothing marked
    expect(marked).toEqual(['user:web:otto']);
  });

  it('compacts once per range when the transcript outgrows the budget, flushing facts first and never splitting a tool call', async () => {
    const memory = service('compaction');
    const turn = identity('s-compact', 'jo');
    const session = { key: turn.sessionKey, userId: 'jo' };
    for (let i = 1; i <= 12; i++) {
      const rows =
        i === 3
          ? [
              { role: 'user' as const, content: 'my favourite colour is teal. ' + filler(i) },
              { role: 'assistant' as const, content: '', toolCalls: [{ id: 'c3', type: 'function' as const, function: { name: 'echo', arguments: '{"text":"x"}' } }] },
              { role: 'tool' as const, content: 'x', toolCallId: 'c3' },
              { role: 'assistant' as const, content: `Answer ${i}. ${'details '.repeat(30)}` },
            ]
          : [
              { role: 'user' as const, content: filler(i) },
              { role: 'assistant' as const, content: `Answer ${i}. ${'details '.repeat(30)}` },
            ];
      await commitTurn(db, session, `t-compact-${i}`, rows);
    }
    const [summaries, extracts] = [calls.summarize, calls.extract];
    await memory.afterTurn(turn, 't-compact-12', 1000);
    expect(calls.summarize - summaries).toBe(1);
    expect(calls.extract - extracts).toBe(1); // the flush, since no per-turn extraction ran
    // The range is read back whole: the summarizer sees turn 3's tool call.
    expect(summarizeAsked.at(-1)).toContain('Assistant called echo(');
    await memory.afterTurn(turn, 't-compact-12', 1000); // replayed
    await Promise.all([memory.afterTurn(turn, 't-compact-12', 1000), memory.afterTurn(turn, 't-compact-12', 1000)]);
    expect(calls.summarize - summaries).toBe(1);
    expect(calls.extract - extracts).toBe(1);
    const { rows } = await db.query<{ from_seq: number; to_seq: number }>(`SELECT from_seq, to_seq FROM summaries WHERE session_id = $1`, [turn.sessionKey]);
    expect(rows).toHaveLength(1);
    // The summarized range ends right before a user message: the turn boundary.
    const { rows: next } = await db.query<{ role: string }>(`SELECT role FROM messages WHERE session_id = $1 AND seq = $2`, [turn.sessionKey, rows[0]!.to_seq + 1]);
    expect(next[0]!.role).toBe('user');
    expect((await memory.latestSummary(turn.sessionKey))!.content).toMatch(/^Earlier, the user asked \d+ more questions/);
    expect((await memory.store.list([userScope('web', 'jo')])).map((m) => m.content)).toEqual(["The user's favourite colour is teal."]);
  });

  it('does not flush a turn again when the summary after its flush failed and a later compaction covers it', async () => {
    const memory = service('compaction', { embeddings: false });
    const turn = identity('s-reflush', 'kim');
    const session = { key: turn.sessionKey, userId: 'kim' };
    const exchange = (i: number) => [
      { role: 'user' as const, content: i === 2 ? 'my favourite city is Lisbon. ' + filler(i) : filler(i) },
      { role: 'assistant' as const, content: `Answer ${i}. ${'details '.repeat(30)}` },
    ];
    for (let i = 1; i <= 12; i++) await commitTurn(db, session, `t-reflush-${i}`, exchange(i));
    const [summaries, extracts] = [calls.summarize, calls.extract];
    failSummarize = true;
    try {
      expect(await memory.afterTurn(turn, 't-reflush-12', 1500)).toBe(false);
    } finally {
      failSummarize = false;
    }
    expect([calls.summarize - summaries, calls.extract - extracts]).toEqual([1, 1]);
    expect(extractAsked.at(-1)).toContain('Lisbon');
    for (let i = 13; i <= 16; i++) await commitTurn(db, session, `t-reflush-${i}`, exchange(i));
    expect(await memory.afterTurn(turn, 't-reflush-16', 1500)).toBe(true);
    // The second compaction's range ends later: its flush reads only the turns the first did not.
    expect([calls.summarize - summaries, calls.extract - extracts]).toEqual([2, 2]);
    expect(extractAsked.at(-1)).not.toContain('Lisbon');
    expect(extractAsked.at(-2)!.match(/Question \d+:/g)).toEqual(['Question 1:', 'Question 2:', 'Question 3:', 'Question 4:', 'Question 5:', 'Question 6:']);
    expect(extractAsked.at(-1)!.match(/Question \d+:/g)).toEqual(['Question 7:', 'Question 8:', 'Question 9:']);
    expect((await memory.store.list([userScope('web', 'kim')])).map((m) => m.content)).toEqual(["The user's favourite city is Lisbon."]);
  });

  it('compacts a shared session again after one of its members deleted their data', async () => {
    const memory = service('off', { embeddings: false });
    const turn: TurnIdentity = { ...identity('grp-c', 'max'), personal: false };
    const session = { key: 'grp-c', userId: 'max' };
    const exchange = (i: number) => [
      { role: 'user' as const, content: filler(i) },
      { role: 'assistant' as const, content: `Answer ${i}. ${'details '.repeat(30)}` },
    ];
    for (let i = 1; i <= 12; i++) await commitTurn(db, session, `tc-${i}`, exchange(i));
    expect(await memory.afterTurn(turn, 'tc-12', 1000)).toBe(true);
    await commitTurn(db, session, 'tc-13', [{ role: 'user', content: 'Lena: hi all', userId: 'lena' }, { role: 'assistant', content: 'Hi Lena.' }]);
    await deleteUserData(db, 'lena');
    // Her summary went with her; the next turns rebuild one from what remains.
    expect(await memory.latestSummary('grp-c')).toBeUndefined();
    await commitTurn(db, session, 'tc-14', exchange(14));
    await memory.afterTurn(turn, 'tc-14', 1000);
    expect(await memory.latestSummary('grp-c')).toBeDefined();
  });

  it('says in the log when retrieval is keyword-only', () => {
    service('off', { embeddings: false });
    expect(lines.some((l) => String(l.msg).includes('memory retrieval is keyword-only'))).toBe(true);
  });

  it('reads and writes no user memories in a group turn', async () => {
    const memory = service('turn');
    await memory.store.add({ ...userScope('web', 'kim'), content: 'The user’s bank PIN is 9931.', source: 'api', userId: 'kim' });
    const group: TurnIdentity = { ...identity('s-group', 'kim'), personal: false };
    expect(memory.scopesFor(group).map((s) => s.scope)).toEqual(['session', 'agent']);
    expect(await memory.recall(group, 'bank PIN')).toEqual([]);
    expect((await memory.recall(identity('s-dm', 'kim'), 'bank PIN')).map((m) => m.content)).toEqual(['The user’s bank PIN is 9931.']);
  });
});
