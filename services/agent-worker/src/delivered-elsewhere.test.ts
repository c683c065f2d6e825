import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage, OutboundReply, SessionEvent } from '@switchboard/contracts';
import { createLlmClient } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { freshTurn, recordingLaneStore, recordingTranscripts, runnerDeps } from './test-support/runner-deps.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
beforeAll(async () => {
  // Streams slowly enough (5 × 40 ms) for the turn's 50 ms delta buffer to publish deltas.
  model = await startFakeOpenAI({ script: () => ({ text: 'the daily report.', chunkSize: 4, chunkDelayMs: 40 }) });
});
afterAll(async () => {
  await model?.close();
});

function message(deliverTo?: InboundMessage['deliverTo']): InboundMessage {
  return { v: 1, id: 'm1', platform: 'telegram', sessionKey: 'telegram:bot:chat1', account: 'bot', chatId: 'chat1', userId: 'u1', kind: 'system_event', text: 'report', receivedAtMs: Date.now(), ...(deliverTo ? { deliverTo } : {}) };
}

async function runOne(msg: InboundMessage) {
  const events: SessionEvent[] = [];
  const replies: OutboundReply[] = [];
  const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
  const deps = runnerDeps({ query: async () => ({ rows: [] }) } as unknown as Db, llm, 4000, 4);
  const runTurn = createTurnRunner({
    ...deps,
    transcripts: recordingTranscripts(),
    replies: { deliver: async (r: OutboundReply) => void replies.push(r) } as unknown as typeof deps.replies,
  });
  await runTurn(freshTurn('t1', [msg], recordingLaneStore(events), logger));
  return { deltas: events.filter((e) => e.type === 'delta').length, replies };
}

describe('a turn whose reply goes to another chat (a schedule run delivered elsewhere)', () => {
  it('streams no deltas into its own session, whose chat would show a draft no reply there finishes', async () => {
    const own = await runOne(message());
    expect(own.deltas).toBeGreaterThan(0);
    expect(own.replies[0]).toMatchObject({ chatId: 'chat1', text: 'the daily report.' });

    const elsewhere = await runOne(message({ platform: 'slack', account: 'bot', chatId: 'C42' }));
    expect(elsewhere.deltas).toBe(0);
    expect(elsewhere.replies[0]).toMatchObject({ platform: 'slack', chatId: 'C42', text: 'the daily report.' });

    const otherSession = await runOne(message({ platform: 'telegram', account: 'bot', chatId: 'chat2', sessionKey: 'telegram:bot:chat2' }));
    expect(otherSession.deltas).toBe(0);
  });
});
