// A flush's own run row (kind 'flush', turn_id = the turn that ran the compaction) does not mark
// that turn as read: when a later compaction's range reaches it, its facts are still extracted
// (extraction mode 'compaction').
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLlmClient } from '@switchboard/llm';
import { createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { MemoryService, type TurnIdentity } from './memory-service.ts';
import { MemoryStore } from './memory-store.ts';
import { commitTurn, fakeMemoryModel, recordingLogger } from './test-support.ts';
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

it('extracts the facts of the turn that triggered an earlier compaction once a later range covers it', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const store = new MemoryStore(db, { logger, registry });
  const summarizer = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-summarizer', maxRetries: 0, registry, logger });
  const memory = new MemoryService({ db, store, summarizer, extraction: 'compaction', logger });
  const turn: TurnIdentity = { sessionKey: 's-probe', platform: 'web', userId: 'pat', agent: 'default', personal: true };
  const filler = (i: number) => `Question ${i}: tell me about ${'interesting things '.repeat(12)}`;
  let triggering: string | undefined;
  for (let i = 1; i <= 60; i++) {
    const id = `t-probe-${i}`;
    // Every turn from 10 on states a fact of its own until one of them triggers a compaction.
    const user = triggering === undefined && i >= 10 ? `my favourite number is N${i}. ${filler(i)}` : filler(i);
    await commitTurn(db, { key: turn.sessionKey, userId: 'pat' }, id, [
      { role: 'user', content: user },
      { role: 'assistant', content: `Answer ${i}. ${'details '.repeat(30)}` },
    ]);
    const compacted = await memory.afterTurn(turn, id, 1500);
    if (compacted && triggering === undefined && i >= 10) triggering = `N${i}`;
  }
  const { rows } = await db.query<{ to_seq: number }>(`SELECT max(to_seq) AS to_seq FROM summaries WHERE session_id = 's-probe'`);
  expect(Number(rows[0]!.to_seq)).toBeGreaterThan(40); // later ranges went well past the triggering turn
  const stored = (await store.list([userScope('web', 'pat')])).map((m) => m.content);
  expect(triggering).toBeDefined();
  expect(stored).toContain(`The user's favourite number is ${triggering}.`);
}, 60_000);
