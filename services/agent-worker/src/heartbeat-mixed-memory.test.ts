import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import type { LaneStore, TurnContext } from '@switchboard/lanes';
import { createLlmClient } from '@switchboard/llm';
import type { MemoryService, TurnIdentity } from '@switchboard/memory';
import { createLogger, createRegistry } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import type { ToolCatalog } from '@switchboard/tools';
import type { CommitInput, TranscriptStore } from './transcript.ts';
import { runnerDeps } from './test-support/runner-deps.ts';
import { createTurnMemory } from './turn-memory.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
beforeAll(async () => {
  model = await startFakeOpenAI({ script: () => ({ text: 'Noted, your locker code is 4711.' }) });
});
afterAll(async () => {
  await model?.close();
});

const base = { v: 1 as const, platform: 'web', sessionKey: 'web:acct:s1', account: 'acct', chatId: 's1', receivedAtMs: Date.now() };
// The check-in was waiting when the person wrote: it comes first in the batch.
const checkIn: InboundMessage = { ...base, id: 'hb1', userId: 'heartbeat:main', kind: 'system_event', trigger: 'heartbeat', text: 'Check in. If nothing needs attention, answer exactly NO_REPLY.' };
const said: InboundMessage = { ...base, id: 'u1', userId: 'acct/s1', kind: 'user', text: 'my locker code is 4711' };

describe('a check-in collected first into a person’s turn', () => {
  it('leaves the turn the person’s own for memory too (recall, extraction) and for the session row', async () => {
    const identities: Array<{ step: string; identity: TurnIdentity; query?: string }> = [];
    const service = {
      recall: async (identity: TurnIdentity, query: string) => (identities.push({ step: 'recall', identity, query }), []),
      afterTurn: async (identity: TurnIdentity) => (identities.push({ step: 'afterTurn', identity }), false),
      store: { metrics: { contextTokens: { observe: () => undefined } } },
    } as unknown as MemoryService;
    const db = { query: async () => ({ rows: [{ summary: null, at_most: null, last_seq: 0, history: '[]' }] }) } as unknown as Db;
    const commits: CommitInput[] = [];
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
    const runTurn = createTurnRunner({
      ...runnerDeps(db, llm, 4000, 4),
      memory: createTurnMemory(db, service, 'main'),
      transcripts: {
        recent: async () => [],
        committedReply: async () => undefined,
        commit: async (input: CommitInput) => (commits.push(input), { outcome: 'committed' as const, baseSeq: 0, written: input.rows.length }),
      } as unknown as TranscriptStore,
      catalog: { list: async () => [] } as unknown as ToolCatalog,
    });
    const store = { appendEvent: async () => '0-0', loadSteps: async () => [], saveStep: async () => undefined, owns: async () => true } as unknown as LaneStore;
    const ctx: TurnContext = { sessionKey: base.sessionKey, turnId: 't1', resumed: false, fence: 1, messages: [checkIn, said], attempt: 1, signal: new AbortController().signal, store, log: logger };
    await runTurn(ctx);

    // The transcript holds the person's message only (the change under review)...
    expect(commits[0]!.rows.filter((r) => r.role === 'user').map((r) => r.userId)).toEqual(['acct/s1']);
    // ...so memory must read the turn as theirs: extraction keeps the user lines of `identity.userId`,
    // and a turn that is not personal neither recalls nor stores their own memories.
    expect(identities.map((i) => i.step)).toEqual(['recall', 'afterTurn']);
    for (const { identity } of identities) expect(identity).toMatchObject({ userId: 'acct/s1', personal: true });
    expect(identities[0]!.query).not.toContain('NO_REPLY');
    // And the session row the commit creates names the person, not the check-in's pseudo-sender.
    expect(commits[0]!.session.userId).toBe('acct/s1');
  });
});
