import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countMessageTokens, countTokens, type ChatMessage } from '@switchboard/llm';
import { EXTRACTION_SYSTEM_PROMPT, SUMMARY_SYSTEM_PROMPT } from '@switchboard/memory';
import { lastUserMessages, messageText, waitFor, type FakeChatRequest, type FakeResponse } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const BUDGET = 2000;
const SYSTEM_PROMPT = 'You are a helpful assistant reachable through chat. Answer concisely.';
const TURNS = Number(process.env.MEMORY_TEST_TURNS ?? 300);
const FACT_TURN = 5;

let t: TestSystem;
beforeAll(async () => {
  t = await startTestSystem({
    env: {
      CONTEXT_TOKEN_BUDGET: String(BUDGET),
      SYSTEM_PROMPT,
      EMBEDDING_MODEL: 'fake-embedding',
      TOOLS_ENABLED: 'remember,recall,forget',
      // Facts are extracted by the flush before each compaction (per-turn extraction, the default,
      // is covered by memory-privacy.test.ts and the turn runner's replay test); fewer model calls
      // keep this long test fast.
      MEMORY_EXTRACTION: 'compaction',
    },
  });
});
afterAll(async () => {
  await t?.stop();
});

type Kind = 'extract' | 'summarize' | 'chat';
const kindOf = (body: FakeChatRequest): Kind => {
  const system = body.messages[0] ? messageText(body.messages[0]) : '';
  return system === EXTRACTION_SYSTEM_PROMPT ? 'extract' : system === SUMMARY_SYSTEM_PROMPT ? 'summarize' : 'chat';
};
/** Prompt tokens of a request as the model would count them: messages plus tool schemas. */
const promptTokens = (body: FakeChatRequest) => countMessageTokens(body.messages as ChatMessage[]) + (body.tools?.length ? countTokens(JSON.stringify(body.tools)) : 0);
const systemText = (body: FakeChatRequest) => messageText(body.messages[0]!);

/** The extractor: each "my X is Y" in a user line becomes a fact. */
function extraction(body: FakeChatRequest): FakeResponse {
  const excerpt = lastUserMessages(body).join('\n');
  const memories = [...excerpt.matchAll(/^User: .*?\bmy ([\w' ]{2,40}?) is ([\p{L}\p{N}-]+)/gimu)].map((m) => ({ content: `The user's ${m[1]} is ${m[2]}.`, kind: 'fact', importance: 0.8 }));
  return { text: JSON.stringify({ memories }) };
}
/** A lossy summary: it never carries facts forward, so only long-term memory can. */
const summary = (body: FakeChatRequest): FakeResponse => ({ text: `Earlier the user asked ${(lastUserMessages(body).join('\n').match(/^User: /gm) ?? []).length} more questions on assorted topics.` });

const WORDS = 'river signal garden copper lantern orbit meadow thunder pepper canyon violet harbor falcon marble willow ember glacier saffron prism tundra'.split(' ');
const topic = (i: number) => `${WORDS[i % WORDS.length]} ${WORDS[(i * 7 + 3) % WORDS.length]}`;
function userText(i: number): string {
  if (i === FACT_TURN) return "By the way, my sister's name is Zephyrine. Anyway, could you explain how tides work?";
  if (i === TURNS) return "Quick check before I go: what is my sister's name?";
  if (i % 10 === 0) return `Note for later: my ${WORDS[(i / 10) % WORDS.length]} number is ${1000 + i}. Also, could you explain ${topic(i)} briefly?`;
  return `Question ${i}: could you explain ${topic(i)} in a few sentences, and how it relates to ${topic(i + 1)} in everyday life?`;
}
const answerText = (i: number) => `Answer ${i}: ${Array.from({ length: 110 }, (_, k) => WORDS[(i + k * 3) % WORDS.length]).join(' ')}.`;

describe('memory over a long conversation', () => {
  it(`keeps every prompt within budget for ${TURNS} turns and still recalls a fact from turn ${FACT_TURN}, at a fraction of the full history's tokens`, async () => {
    const sent = { chat: 0, extract: 0, summarize: 0 };
    const calls = { chat: 0, extract: 0, summarize: 0 };
    let maxPrompt = 0;
    let turn = 0;
    let factInPrompt = false;
    t.model.setScript((body) => {
      const kind = kindOf(body);
      const tokens = promptTokens(body);
      sent[kind] += tokens;
      calls[kind]++;
      maxPrompt = Math.max(maxPrompt, tokens);
      if (kind === 'extract') return extraction(body);
      if (kind === 'summarize') return summary(body);
      if (turn === TURNS) {
        factInPrompt = systemText(body).includes('Zephyrine');
        return { text: factInPrompt ? "Your sister's name is Zephyrine." : "I don't know your sister's name." };
      }
      return { text: answerText(turn) };
    });
    // Tokens of the whole transcript so far, as countMessageTokens counts a list (3 for the reply priming, then per message).
    let historyTokens = countMessageTokens([{ role: 'system', content: SYSTEM_PROMPT }]);
    const add = (m: ChatMessage) => (historyTokens += countMessageTokens([m]) - 3);
    let fullHistory = 0;
    let toolTokens = -1;
    let lastReply = '';
    for (turn = 1; turn <= TURNS; turn++) {
      const user = userText(turn);
      const before = t.model.requests.length;
      const started = performance.now();
      const res = await postJson(t.url, '/v1/chat/completions', { messages: [{ role: 'user', content: user }] }, { 'x-session-id': 'long-talk' });
      expect(res.status).toBe(200);
      lastReply = ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
      if (process.env.MEMORY_TEST_TIMING) console.info(turn, Math.round(performance.now() - started));
      const chat = t.model.requests.slice(before).find((r) => kindOf(r) === 'chat')!;
      if (toolTokens < 0) toolTokens = chat.tools?.length ? countTokens(JSON.stringify(chat.tools)) : 0;
      // What this turn would cost if the whole history were sent every time.
      add({ role: 'user', content: user });
      fullHistory += historyTokens + toolTokens;
      add({ role: 'assistant', content: lastReply });
    }
    // The last turn's memory work runs after its reply was delivered: wait until the database holds
    // one run for every summarizer and extractor call made (a run done twice would never match).
    // A flush also marks each turn it read (`flush:<session>:turn:<turn id>`): those are not runs.
    const runs = async () =>
      Object.fromEntries(
        (
          await t.system.db.query<{ kind: string; n: number }>(
            `SELECT kind, count(*)::int AS n FROM memory_runs WHERE session_id = 'web:local:long-talk' AND key NOT LIKE 'flush:%:turn:%' GROUP BY kind`,
          )
        ).rows.map((r) => [r.kind, r.n]),
      ) as Record<string, number>;
    await waitFor(async () => {
      const done = await runs();
      return done.compact === calls.summarize && (done.flush ?? 0) === calls.extract;
    }, { timeoutMs: 20_000 });
    const total = sent.chat + sent.extract + sent.summarize;
    const ratio = total / fullHistory;
    console.info(
      `memory: ${TURNS} turns, budget ${BUDGET}: sent ${total} prompt tokens (chat ${sent.chat} in ${calls.chat} calls, extraction ${sent.extract} in ${calls.extract}, summaries ${sent.summarize} in ${calls.summarize}) vs ${fullHistory} with the full history every turn = ${(ratio * 100).toFixed(1)} %; largest prompt ${maxPrompt}`,
    );
    expect(maxPrompt).toBeLessThanOrEqual(BUDGET);
    expect(factInPrompt).toBe(true);
    expect(lastReply).toBe("Your sister's name is Zephyrine.");
    expect(ratio).toBeLessThanOrEqual(0.15);
    expect(calls.summarize).toBeGreaterThan(10);
    expect(calls.extract).toBeGreaterThan(0);
    expect(calls.extract).toBeLessThanOrEqual(calls.summarize);
    const { rows: summaries } = await t.system.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM summaries WHERE session_id = 'web:local:long-talk'`);
    expect(summaries[0]!.n).toBe(calls.summarize);
    // The full transcript stays in the database.
    const { rows: messages } = await t.system.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE session_id = 'web:local:long-talk'`);
    expect(messages[0]!.n).toBe(TURNS * 2);
  }, 240_000);
});
