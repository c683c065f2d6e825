import { describe, expect, it } from 'vitest';
import { countMessageTokens, countTokens } from '@switchboard/llm';
import { buildContext, MEMORIES_HEADING, SUMMARY_HEADING } from './context.ts';
import type { TranscriptEntry } from './transcript.ts';

const call = (id: string) => [{ id, type: 'function' as const, function: { name: 'echo', arguments: '{"text":"x"}' } }];

function history(turns: number): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  for (let i = 0; i < turns; i++) {
    out.push({ role: 'user', content: `question ${i} ${'word '.repeat(20)}` });
    out.push({ role: 'assistant', content: '', toolCalls: call(`c${i}`) });
    out.push({ role: 'tool', content: `result ${i} ${'data '.repeat(20)}`, toolCallId: `c${i}` });
    out.push({ role: 'assistant', content: `answer ${i}` });
  }
  return out;
}

/** History as the transcript stores it: each row with its content's token count. */
function storedHistory(turns: number): TranscriptEntry[] {
  return history(turns).map((e, i) => {
    const id = `call_Jx7Qm2Lp9Vr4Tz8Wk3Ns${String(Math.floor(i / 4)).padStart(4, '0')}`;
    const entry = e.toolCalls ? { ...e, toolCalls: call(id) } : e.toolCallId ? { ...e, toolCallId: id } : e;
    return { ...entry, tokens: countTokens(e.content) };
  });
}

describe('buildContext', () => {
  it('counts history rows by their stored token counts exactly as their messages count', () => {
    for (const budget of [300, 1000, 5000]) {
      const built = buildContext({ systemPrompt: 'sys', history: storedHistory(60), current: [{ role: 'user', content: 'now' }], tools: [], budgetTokens: budget });
      expect(built.tokens).toBe(countMessageTokens(built.messages));
      expect(built.tokens).toBeLessThanOrEqual(budget);
    }
  });

  it('keeps the newest history that fits the budget and never exceeds it', () => {
    for (const budget of [120, 300, 700, 2000]) {
      const built = buildContext({ systemPrompt: 'sys', history: history(30), current: [{ role: 'user', content: 'now' }], tools: [], budgetTokens: budget });
      expect(built.tokens).toBeLessThanOrEqual(budget);
      expect(countMessageTokens(built.messages)).toBeLessThanOrEqual(budget);
      expect(built.messages[0]).toEqual({ role: 'system', content: 'sys' });
      expect(built.messages[built.messages.length - 1]).toEqual({ role: 'user', content: 'now' });
      if (built.droppedMessages > 0 && built.messages.length > 2) {
        // What is kept is the newest part of the history.
        expect(JSON.stringify(built.messages)).toContain('answer 29');
      }
    }
  });

  it('never separates a tool call from its result', () => {
    for (let budget = 60; budget < 1500; budget += 7) {
      const built = buildContext({ systemPrompt: 'sys', history: history(10), current: [{ role: 'user', content: 'now' }], tools: [], budgetTokens: budget });
      const msgs = built.messages;
      msgs.forEach((m, i) => {
        if (m.role === 'tool') {
          const prev = msgs[i - 1]!;
          expect(prev.role === 'assistant' && prev.tool_calls?.some((c) => c.id === m.tool_call_id)).toBe(true);
        }
        if (m.role === 'assistant' && m.tool_calls) expect(msgs[i + 1]).toMatchObject({ role: 'tool', tool_call_id: m.tool_calls[0]!.id });
      });
    }
  });

  it('never sends a tool result whose call is not sent, keeps a call with all its results, and counts what it drops', () => {
    const entries: TranscriptEntry[] = [
      { role: 'tool', content: 'orphan at the start', toolCallId: 'gone' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: '', toolCalls: [...call('a'), ...call('b')] },
      { role: 'tool', content: 'result a', toolCallId: 'a' },
      { role: 'tool', content: 'result b', toolCallId: 'b' },
      { role: 'assistant', content: 'first answer' },
      { role: 'tool', content: 'orphan after a plain answer', toolCallId: 'late' },
      { role: 'user', content: 'second question' },
    ];
    const now = [{ role: 'user' as const, content: 'now' }];
    const all = buildContext({ systemPrompt: 'sys', history: entries, current: now, tools: [], budgetTokens: 10_000 });
    expect(all.messages.map((m) => m.content)).toEqual(['sys', 'first question', null, 'result a', 'result b', 'first answer', 'second question', 'now']);
    expect(all.droppedMessages).toBe(0);
    // Just room for the newest two units: the orphan between them is neither sent nor counted.
    const tail = countMessageTokens([{ role: 'assistant', content: 'first answer' }, { role: 'user', content: 'second question' }]) - 3;
    const two = buildContext({ systemPrompt: 'sys', history: entries, current: now, tools: [], budgetTokens: countMessageTokens([{ role: 'system', content: 'sys' }, ...now]) + tail });
    expect(two.messages.map((m) => m.content)).toEqual(['sys', 'first answer', 'second question', 'now']);
    expect(two.droppedMessages).toBe(4);
  });

  it('gives the same context for the same entries turn after turn (their messages are made once)', () => {
    const entries = storedHistory(20);
    const first = buildContext({ systemPrompt: 'sys', history: entries, current: [{ role: 'user', content: 'one' }], tools: [], budgetTokens: 800 });
    const again = buildContext({ systemPrompt: 'sys', history: entries, current: [{ role: 'user', content: 'two' }], tools: [], budgetTokens: 800 });
    expect(again.messages.slice(0, -1)).toEqual(first.messages.slice(0, -1));
    expect(again.droppedMessages).toBe(first.droppedMessages);
    expect(again.messages[1]).toBe(first.messages[1]);
    // A longer history with the same entries at its end still fits the same newest part.
    const longer = buildContext({ systemPrompt: 'sys', history: [...storedHistory(5), ...entries], current: [{ role: 'user', content: 'one' }], tools: [], budgetTokens: 800 });
    expect(longer.messages).toEqual(first.messages);
    expect(longer.droppedMessages).toBe(first.droppedMessages + 20);
  });

  it('always sends the current turn whole, even over budget', () => {
    const big = 'long '.repeat(500);
    const built = buildContext({ systemPrompt: 'sys', history: history(3), current: [{ role: 'user', content: big }], tools: [], budgetTokens: 50 });
    expect(built.messages).toEqual([{ role: 'system', content: 'sys' }, { role: 'user', content: big }]);
    expect(built.droppedMessages).toBe(12);
  });
});

describe('buildContext with memory', () => {
  const memories = Array.from({ length: 30 }, (_, i) => `The user fact number ${i} is ${'detail '.repeat(i % 7)}.`);
  it('puts memories (best first, within their share) and the summary in the system message and stays within the budget', () => {
    for (const budget of [300, 600, 1200, 4000]) {
      const built = buildContext({ systemPrompt: 'sys', history: history(30), current: [{ role: 'user', content: 'now' }], tools: [], budgetTokens: budget, memories, summary: 'Earlier: the user planned a trip.' });
      expect(countMessageTokens(built.messages)).toBeLessThanOrEqual(budget);
      const system = built.messages[0]!.content as string;
      expect(system.startsWith('sys\n\n')).toBe(true);
      expect(built.memoriesUsed).toBeGreaterThan(0);
      expect(system).toContain('- The user fact number 0 is .'); // the best one always fits first
      expect(countTokens(system.split(MEMORIES_HEADING)[1]!.split(SUMMARY_HEADING)[0]!)).toBeLessThanOrEqual(budget * 0.15);
      if (budget >= 600) expect(built.summaryUsed && system.includes('Earlier: the user planned a trip.')).toBe(true);
    }
  });

  it('gives memories and the summary only the room the prompt, the current turn and the tools leave', () => {
    const summary = 'Earlier: the user planned a trip to Lisbon with friends.';
    const base = { systemPrompt: 'sys', history: [], tools: [], memories, summary };
    for (const words of [100, 170, 200, 230, 260]) {
      const current = [{ role: 'user' as const, content: 'word '.repeat(words) }];
      const built = buildContext({ ...base, current, budgetTokens: 300 });
      expect(countMessageTokens(built.messages), `${words} words`).toBeLessThanOrEqual(300);
      expect(built.tokens).toBe(countMessageTokens(built.messages));
    }
    // Nothing left: neither is added.
    const full = buildContext({ ...base, current: [{ role: 'user', content: 'word '.repeat(290) }], budgetTokens: 300 });
    expect(full.messages[0]).toEqual({ role: 'system', content: 'sys' });
    expect([full.memoriesUsed, full.summaryUsed]).toEqual([0, false]);
  });

  it('leaves out a summary larger than its share rather than the recent turns', () => {
    const built = buildContext({ systemPrompt: 'sys', history: history(3), current: [{ role: 'user', content: 'now' }], tools: [], budgetTokens: 400, summary: 'long '.repeat(200) });
    expect(built.summaryUsed).toBe(false);
    expect(built.messages[0]).toEqual({ role: 'system', content: 'sys' });
  });

  it('counts the tool schemas as sent, anew whenever the tool list changes', () => {
    const tool = (name: string, words: number) => ({ name, description: 'does things '.repeat(words), parameters: { type: 'object', properties: {} } });
    const small = [tool('a', 1)];
    const large = [tool('a', 200)];
    const input = { systemPrompt: 'sys', history: [], current: [{ role: 'user' as const, content: 'now' }], budgetTokens: 10_000 };
    const none = buildContext({ ...input, tools: [] }).tokens;
    const withSmall = buildContext({ ...input, tools: small }).tokens;
    const withLarge = buildContext({ ...input, tools: large }).tokens;
    const expected = (tools: typeof small) => countTokens(JSON.stringify(tools.map((t) => ({ type: 'function', function: t }))));
    expect(withSmall - none).toBe(expected(small));
    expect(withLarge - none).toBe(expected(large));
    expect(buildContext({ ...input, tools: [...small] }).tokens).toBe(withSmall); // the same tools in a new list
  });
});
