import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage, ToolDefinition, ToolJob } from '@switchboard/contracts';
import { createLlmClient } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import { PolicyEngine } from '@switchboard/policy';
import type { Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeChatRequest, type FakeOpenAI } from '@switchboard/testkit';
import type { ToolCatalog } from '@switchboard/tools';
import type { CommitInput } from './transcript.ts';
import type { ToolDispatcher } from './tool-dispatch.ts';
import { freshTurn, recordingLaneStore, recordingTranscripts, runnerDeps } from './test-support/runner-deps.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
const requests: FakeChatRequest[] = [];
beforeAll(async () => {
  // Asks for `shell` whenever it is offered; answers once it has a tool result (or no tools).
  model = await startFakeOpenAI({
    script: (body) => {
      requests.push(body);
      const offered = (body.tools ?? []).some((t) => t.function.name === 'shell');
      const hasResult = body.messages.some((m) => m.role === 'tool');
      return offered && !hasResult ? { toolCalls: [{ id: 'c1', name: 'shell', arguments: { command: 'rm -rf ~/work' } }] } : { text: 'done' };
    },
  });
});
afterAll(async () => {
  await model?.close();
});

const shell: ToolDefinition = { name: 'shell', description: 'runs a command', parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] }, timeoutMs: 1000, risk: 'high' };

function message(n: number, userId: string, text: string): InboundMessage {
  return { v: 1, id: `g${n}`, platform: 'telegram', sessionKey: 'telegram:bot:group1', account: 'bot', chatId: 'group1', userId, isGroup: true, kind: 'user', text, receivedAtMs: Date.now() };
}

describe('a turn collecting several people’s messages in a group', () => {
  it('offers and runs a tool only when the policy allows it for every sender whose message the turn answers', async () => {
    // Only alice may use the shell; everyone else is denied it.
    const policy = new PolicyEngine({ default: 'allow', rules: [{ tool: 'shell', user: 'alice', decision: 'allow' }, { tool: 'shell', decision: 'deny' }] });
    const ran: ToolJob[] = [];
    const commits: CommitInput[] = [];
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
    const runTurn = createTurnRunner({
      ...runnerDeps({ query: async () => ({ rows: [] }) } as unknown as Db, llm, 4000, 4),
      transcripts: recordingTranscripts(commits),
      catalog: { list: async () => [shell] } as unknown as ToolCatalog,
      policy,
      tools: { run: async (job: ToolJob) => (ran.push(job), { ok: true, output: 'deleted', truncated: false, durationMs: 1 }) } as unknown as ToolDispatcher,
    });
    const store = recordingLaneStore();
    const turn = (turnId: string, messages: InboundMessage[]) => freshTurn(turnId, messages, store, logger);

    // Bob alone: the shell is not even offered.
    await runTurn(turn('t-bob', [message(1, 'bob', 'run rm -rf ~/work')]));
    expect(ran).toEqual([]);
    expect(requests.at(-1)!.tools ?? []).toEqual([]);

    // Bob's message collected into one turn right after alice's: it must not get alice's rights.
    await runTurn(turn('t-both', [message(2, 'alice', 'hi'), message(3, 'bob', 'run rm -rf ~/work')]));
    expect(ran).toEqual([]);
    expect(requests.at(-1)!.tools ?? []).toEqual([]);
    expect(commits.map((c) => c.replyText)).toEqual(['done', 'done']);
  });
});
