import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import type { LaneStore, TurnContext } from '@switchboard/lanes';
import { createLlmClient } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeChatRequest, type FakeOpenAI } from '@switchboard/testkit';
import type { ToolCatalog } from '@switchboard/tools';
import type { CommitInput, TranscriptStore } from './transcript.ts';
import { runnerDeps } from './test-support/runner-deps.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
const requests: FakeChatRequest[] = [];
beforeAll(async () => {
  model = await startFakeOpenAI({ script: (body) => (requests.push(body), { text: 'Lunch is at noon.' }) });
});
afterAll(async () => {
  await model?.close();
});

const base = { v: 1 as const, platform: 'web', sessionKey: 'web:acct:s1', account: 'acct', chatId: 's1', receivedAtMs: Date.now() };
const checkIn: InboundMessage = { ...base, id: 'hb1', userId: 'heartbeat:main', kind: 'system_event', trigger: 'heartbeat', text: 'Check in. If nothing needs attention, answer exactly NO_REPLY.' };
const question: InboundMessage = { ...base, id: 'u1', userId: 'acct/s1', kind: 'user', text: 'when is lunch?' };

describe('a check-in collected into a person’s turn', () => {
  it('is left out of what the model is asked and of the transcript, and the person’s turn stays personal', async () => {
    const commits: CommitInput[] = [];
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
    const runTurn = createTurnRunner({
      ...runnerDeps({ query: async () => ({ rows: [] }) } as unknown as Db, llm, 4000, 4),
      transcripts: {
        recent: async () => [],
        committedReply: async () => undefined,
        commit: async (input: CommitInput) => (commits.push(input), { outcome: 'committed' as const, baseSeq: 0, written: input.rows.length }),
      } as unknown as TranscriptStore,
      catalog: { list: async () => [] } as unknown as ToolCatalog,
    });
    const store = { appendEvent: async () => '0-0', loadSteps: async () => [], saveStep: async () => undefined, owns: async () => true } as unknown as LaneStore;
    const ctx: TurnContext = { sessionKey: base.sessionKey, turnId: 't1', resumed: false, fence: 1, messages: [checkIn, question], attempt: 1, signal: new AbortController().signal, store, log: logger };
    await runTurn(ctx);
    const asked = JSON.stringify(requests.at(-1)!.messages);
    expect(asked).toContain('when is lunch?');
    expect(asked).not.toContain('NO_REPLY');
    expect(commits[0]!.rows.filter((r) => r.role === 'user').map((r) => r.content)).toEqual(['when is lunch?']);
    expect(commits[0]!.replyText).toBe('Lunch is at noon.');
  });
});
