import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { collectStartupGarbage, collectStartupGarbageSoon } from './startup-gc.ts';

/** Committed bytes of V8's young generation (both semi-spaces' active halves, as V8 reports them). */
const newSpaceBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

describe('collectStartupGarbage', () => {
  it('shrinks a young generation that start-up work grew, without exposing gc globally', () => {
    // Objects that survive a few scavenges make V8 grow the young generation, as module loading does.
    const kept: unknown[][] = [];
    for (let round = 0; round < 40 && newSpaceBytes() < 4 * 1024 * 1024; round++) {
      const batch: unknown[] = [];
      for (let i = 0; i < 50_000; i++) batch.push({ i, s: `v${i}` });
      kept.push(batch);
    }
    const grown = newSpaceBytes();
    expect(grown).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    kept.length = 0;

    const ms = collectStartupGarbage();

    expect(ms).toBeGreaterThan(0);
    expect(newSpaceBytes()).toBeLessThan(grown / 2);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    // A second call reuses the function it found.
    expect(collectStartupGarbage()).toBeGreaterThan(0);
  });

  it('collects later when asked to, and reports how long it took', async () => {
    const started = performance.now();
    const ms = await new Promise<number>((resolve) => collectStartupGarbageSoon(resolve, 30));
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    expect(ms).toBeGreaterThan(0);
  });
});
