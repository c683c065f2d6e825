import { describe, expect, it } from 'vitest';
import { HistoryCache, type CachedHistory } from './history-cache.ts';

const entry = (fence: number, text = 'hello', messages = 2): CachedHistory => ({
  fence,
  limit: 100,
  lastSeq: messages,
  summary: undefined,
  history: Array.from({ length: messages }, (_, i) => ({ role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: text, tokens: 1 })),
  unsummarizedTokensAtMost: undefined,
});

describe('HistoryCache', () => {
  it('hands an entry only to the claim right after the turn that wrote it, and only once', () => {
    const cache = new HistoryCache({ maxBytes: 1 << 20 });
    cache.set('s', entry(4));
    expect(cache.take('s', 4, 100)).toBeUndefined(); // the same claim again: not newer
    cache.set('s', entry(4));
    expect(cache.take('s', 6, 100)).toBeUndefined(); // another claim came in between
    expect(cache.take('s', 5, 100)).toBeUndefined(); // and the entry is gone with the miss
    cache.set('s', entry(4));
    expect(cache.take('s', 5, 20)).toBeUndefined(); // read with another limit
    cache.set('s', entry(4));
    expect(cache.take('s', 5, 100)?.fence).toBe(4);
    expect(cache.take('s', 5, 100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxBytes, dropping the least recently written sessions first', () => {
    const one = new HistoryCache({ maxBytes: 1 << 20 });
    one.set('probe', entry(1, 'x'.repeat(1000)));
    const bytes = one.size;
    expect(bytes).toBeGreaterThan(4000);

    const cache = new HistoryCache({ maxBytes: bytes * 3 });
    for (const s of ['a', 'b', 'c']) cache.set(s, entry(1, 'x'.repeat(1000)));
    cache.set('a', entry(2, 'x'.repeat(1000))); // rewritten: now the newest
    cache.set('d', entry(1, 'x'.repeat(1000)));
    expect(cache.size).toBeLessThanOrEqual(bytes * 3);
    expect(cache.take('b', 2, 100)).toBeUndefined();
    expect(cache.take('a', 3, 100)?.fence).toBe(2);
    expect(cache.take('c', 2, 100)?.fence).toBe(1);
    expect(cache.take('d', 2, 100)?.fence).toBe(1);
    // One session larger than the whole budget is not kept at all.
    cache.set('huge', entry(1, 'x'.repeat(bytes * 3)));
    expect(cache.size).toBe(0);
  });

  it('does not hand out an entry older than maxAgeMs', () => {
    let now = 1_000;
    const cache = new HistoryCache({ maxBytes: 1 << 20, maxAgeMs: 60_000, now: () => now });
    cache.set('s', entry(1));
    now += 60_000;
    expect(cache.take('s', 2, 100)?.fence).toBe(1);
    cache.set('s', entry(2));
    now += 60_001;
    expect(cache.take('s', 3, 100)).toBeUndefined();
    // A session that keeps talking extends its entry every turn: the age counts from the database
    // read the history grew from, so an unannounced change is seen within maxAgeMs all the same.
    cache.set('s', { ...entry(3), readAtMs: now - 59_000 });
    now += 2_000;
    expect(cache.take('s', 4, 100)).toBeUndefined();
  });
});
