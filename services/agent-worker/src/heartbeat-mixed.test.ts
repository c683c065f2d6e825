/**
 * A check-in collected with a person's message into one turn (it was waiting when the person wrote,
 * or arrived just after): the turn answers the person alone. Before the fix the check-in's "answer
 * NO_REPLY" went to the model with the person's question, and when it came first its pseudo-sender
 * decided whose turn it was (memory scoped it as a group's, the session row named it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import { createLlmClient } from '@switchboard/llm';
import type { MemoryService, TurnIdentity } from '@switchboard/memory';
import { createLogger, createRegistry } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeChatRequest, type FakeOpenAI } from '@switchboard/testkit';
import type { CommitInput } from './transcript.ts';
import { freshTurn, recordingLaneStore, recordingTranscripts, runnerDeps } from './test-support/runner-deps.ts';
import { createTurnMemory } from './turn-memory.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
const requests: FakeChatRequest[] = [];
beforeAll(async () => {
  model = await startFakeOpenAI({ script: (body) => (requests.push(body), { text: 'Noted.' }) });
});
afterAll(async () => {
  await model?.close();
});

const base = { v: 1 as const, platform: 'web', sessionKey: 'web:acct:s1', account: 'acct', chatId: 's1', receivedAtMs: Date.now() };
const checkIn: InboundMessage = { ...base, id: 'hb1', userId: 'heartbeat:main', kind: 'system_event', trigger: 'heartbeat', text: 'Check in. If nothing needs attention, answer exactly NO_REPLY.' };
const said: InboundMessage = { ...base, id: 'u1', userId: 'acct/s1', kind: 'user', text: 'my locker code is 4711' };

describe('a check-in collected into a person’s turn', () => {
  it('is left out of what the model is asked and of the transcript', async () => {
    const commits: CommitInput[] = [];
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
    const runTurn = createTurnRunner({ ...runnerDeps({ query: async () => ({ rows: [] }) } as unknown as Db, llm, 4000, 4), transcripts: recordingTranscripts(commits) });
    await runTurn(freshTurn('t1', [said, checkIn], recordingLaneStore(), logger));
    const asked = JSON.stringify(requests.at(-1)!.messages);
    expect(asked).toContain('my locker code is 4711');
    expect(asked).not.toContain('NO_REPLY');
    expect(commits[0]!.rows.filter((r) => r.role === 'user').map((r) => r.content)).toEqual(['my locker code is 4711']);
    expect(commits[0]!.replyText).toBe('Noted.');
  });

  it('leaves the turn the person’s own for memory (recall, extraction) and for the session row when it came first', async () => {
    const identities: Array<{ step: string; identity: TurnIdentity; query?: string }> = [];
    const service = {
      recall: async (identity: TurnIdentity, query: string) => (identities.push({ step: 'recall', identity, query }), []),
      afterTurn: async (identity: TurnIdentity) => (identities.push({ step: 'afterTurn', identity }), false),
      store: { metrics: { contextTokens: { observe: () => undefined } } },
    } as unknown as MemoryService;
    const db = { query: async () => ({ rows: [{ summary: null, at_most: null, last_seq: 0, history: '[]' }] }) } as unknown as Db;
    const commits: CommitInput[] = [];
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
    const runTurn = createTurnRunner({ ...runnerDeps(db, llm, 4000, 4), memory: createTurnMemory(db, service, 'main'), transcripts: recordingTranscripts(commits) });
    await runTurn(freshTurn('t1', [checkIn, said], recordingLaneStore(), logger));

    expect(commits[0]!.rows.filter((r) => r.role === 'user').map((r) => r.userId)).toEqual(['acct/s1']);
    // Extraction keeps the user lines of `identity.userId`, and a turn that is not personal neither
    // recalls nor stores the person's own memories.
    expect(identities.map((i) => i.step)).toEqual(['recall', 'afterTurn']);
    for (const { identity } of identities) expect(identity).toMatchObject({ userId: 'acct/s1', personal: true });
    expect(identities[0]!.query).not.toContain('NO_REPLY');
    expect(commits[0]!.session.userId).toBe('acct/s1');
  });
});
