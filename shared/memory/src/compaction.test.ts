import { describe, expect, it } from 'vitest';
import { createLlmClient } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import { startFakeOpenAI } from '@switchboard/testkit';
import { planCompaction, rowTokens, summarize, type CompactionRow } from './compaction.ts';

const call = [{ id: 'c', type: 'function' as const, function: { name: 'echo', arguments: '{}' } }];
function rows(turns: number): CompactionRow[] {
  const out: CompactionRow[] = [];
  for (let i = 0; i < turns; i++) {
    out.push({ seq: 0, role: 'user', content: '', toolCalls: null, tokens: 20 });
    out.push({ seq: 0, role: 'assistant', content: '', toolCalls: call, tokens: 0 });
    out.push({ seq: 0, role: 'tool', content: '', toolCalls: null, tokens: 30 });
    out.push({ seq: 0, role: 'assistant', content: '', toolCalls: null, tokens: 25 });
  }
  return out.map((r, i) => ({ ...r, seq: i + 1 }));
}

describe('planCompaction', () => {
  it('does nothing within the trigger, and otherwise ends the range at a turn boundary leaving the newest tokens', () => {
    const all = rows(20);
    const total = all.reduce((n, r) => n + rowTokens(r), 0);
    expect(planCompaction(all, { triggerTokens: total, keepTokens: 100, maxChunkTokens: 10_000 })).toBeUndefined();
    for (const keep of [50, 200, 500, 900]) {
      const plan = planCompaction(all, { triggerTokens: 100, keepTokens: keep, maxChunkTokens: 10_000 })!;
      expect(all[plan.to]!.role).toBe('user'); // row after the range (seq is index + 1)
      const kept = all.slice(plan.to).reduce((n, r) => n + rowTokens(r), 0);
      expect(kept).toBeGreaterThanOrEqual(keep);
    }
  });

  it('compacts more messages than the history window holds however few tokens they are, leaving about half the window', () => {
    const all = rows(40); // 160 messages
    const total = all.reduce((n, r) => n + rowTokens(r), 0);
    expect(planCompaction(all, { triggerTokens: total, keepTokens: total, maxChunkTokens: 10_000, maxRows: 160 })).toBeUndefined();
    const plan = planCompaction(all, { triggerTokens: total, keepTokens: total, maxChunkTokens: 10_000, maxRows: 100 })!;
    expect(plan).toBeDefined();
    expect(all[plan.to]!.role).toBe('user');
    // About half the window is left verbatim (back to a turn boundary), well within it.
    expect(all.length - plan.to).toBeGreaterThanOrEqual(50);
    expect(all.length - plan.to).toBeLessThan(60);
  });

  it('summarizes at most maxChunkTokens at once', () => {
    const all = rows(40);
    const plan = planCompaction(all, { triggerTokens: 100, keepTokens: 100, maxChunkTokens: 500 })!;
    expect(plan.tokens).toBeLessThanOrEqual(500);
    expect(plan.from).toBe(1);
    expect(all[plan.to]!.role).toBe('user');
  });
});

describe('summarize', () => {
  it('returns text Postgres can store, whatever the summarizer answers', async () => {
    const model = await startFakeOpenAI({ script: () => ({ text: ' Earlier\u0000 the user asked \ud800 things. ' }) });
    try {
      const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'm', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger: createLogger({ service: 'test', level: 'silent' }) });
      expect(await summarize(llm, undefined, rows(1), 200)).toBe('Earlier\ufffd the user asked \ufffd things.');
    } finally {
      await model.close();
    }
  });
});
