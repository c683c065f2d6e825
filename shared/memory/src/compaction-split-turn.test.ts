// A turn can open with several user messages (collect mode batches the messages that arrived while
// the session was busy). A compaction range must end at a turn boundary (the flush reads each of
// its turns whole and marks them covered), not between two user messages of one turn.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLlmClient } from '@switchboard/llm';
import { createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { planCompaction, rowTokens, type CompactionRow } from './compaction.ts';
import { MemoryService, type TurnIdentity } from './memory-service.ts';
import { MemoryStore } from './memory-store.ts';
import { commitTurn, fakeMemoryModel, recordingLogger, type Row } from './test-support.ts';
import { userScope } from './types.ts';

let db: Db;
let model: FakeOpenAI;
const { logger } = recordingLogger();
beforeAll(async () => {
  [db, model] = await Promise.all([
    openDatabase({}),
    startFakeOpenAI({ script: fakeMemoryModel }),
  ]);
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

const filler = (i: number) => `Question ${i}: tell me about ${'interesting things '.repeat(12)}`;
const exchange = (i: number): Row[] => [
  { role: 'user', content: filler(i) },
  { role: 'assistant', content: `Answer ${i}. ${'details '.repeat(30)}` },
];
// The batched turn: a question, then (a second message of the same batch) a fact and a long aside.
const batched: Row[] = [
  { role: 'user', content: filler(99) },
  { role: 'user', content: `my locker code is 4471. ${'and some more thoughts about lockers '.repeat(40)}` },
  { role: 'assistant', content: 'Noted.' },
];

it('never ends a compaction range between two user messages of one turn, so the flush reads the turn whole', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const store = new MemoryStore(db, { logger, registry });
  const summarizer = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-summarizer', maxRetries: 0, registry, logger });
  const memory = new MemoryService({ db, store, summarizer, extraction: 'compaction', logger });
  const turn: TurnIdentity = { sessionKey: 's-split', platform: 'web', userId: 'una', agent: 'default', personal: true };
  const session = { key: turn.sessionKey, userId: 'una' };
  for (let i = 1; i <= 4; i++) await commitTurn(db, session, `t-split-${i}`, exchange(i));
  await commitTurn(db, session, 't-split-batch', batched);

  // A budget at which the newest 30 % kept verbatim starts exactly at the batch's second message.
  const rows = (await db.query<CompactionRow & { turn_id: string }>(`SELECT seq, role, content, tool_calls AS "toolCalls", tokens, turn_id FROM messages WHERE session_id = 's-split' ORDER BY seq`)).rows;
  const cost = rows.map(rowTokens);
  const after = (i: number) => cost.slice(i).reduce((a, b) => a + b, 0);
  const second = rows.length - 2;
  const budget = Math.floor(after(second) / 0.3);
  expect(after(second + 1)).toBeLessThan(Math.floor(budget * 0.3)); // sanity: the keep-cut lands on the second message
  const plan = planCompaction(rows, { triggerTokens: Math.floor(budget * 0.6), keepTokens: Math.floor(budget * 0.3), maxChunkTokens: Math.floor(budget * 0.5) });
  const last = rows.find((r) => r.seq === plan?.to);
  expect(last?.turn_id === 't-split-batch' ? 'inside the batched turn' : 'at a turn boundary').toBe('at a turn boundary');

  // What that costs: the flush reads only the first message of the turn, marks the turn covered,
  // and the fact in its second message is never extracted by any later compaction.
  await memory.afterTurn(turn, 't-split-batch', budget);
  for (let i = 5; i <= 14; i++) {
    await commitTurn(db, session, `t-split-${i}`, exchange(i));
    await memory.afterTurn(turn, `t-split-${i}`, budget);
  }
  const { rows: covered } = await db.query<{ to_seq: number }>(`SELECT max(to_seq) AS to_seq FROM summaries WHERE session_id = 's-split'`);
  expect(Number(covered[0]!.to_seq)).toBeGreaterThan(rows.at(-1)!.seq); // later ranges went past the batched turn
  expect((await store.list([userScope('web', 'una')])).map((m) => m.content)).toContain("The user's locker code is 4471.");
});
