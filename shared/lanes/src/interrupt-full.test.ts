import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { createLaneWorker, createRedis, LaneIngress, LaneStore, TurnInterruptedError, TurnQueue, type TurnContext } from './index.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function msg(sessionKey: string, text: string) {
  return { v: 1 as const, platform: 'web', sessionKey, account: 'a', chatId: sessionKey, userId: 'u', kind: 'user' as const, text, receivedAtMs: Date.now() };
}

/** A lane worker in interrupt mode on the test Redis under a prefix of its own, removed after the test. */
async function interruptWorker(name: string, maxBatch: number, handle: (ctx: TurnContext) => Promise<void>) {
  const prefix = uniquePrefix(name);
  const redis = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const ingress = new LaneIngress(store, turns, registry);
  const subscriber: Redis = createRedis(inject('redisUrl'));
  const connection: Redis = createRedis(inject('redisUrl'));
  const w = createLaneWorker({ connection, prefix, store, turns, logger, registry, leaseMs: 2000, maxBatch, interrupt: { subscriber }, handle, onGiveUp: async () => undefined });
  cleanups.push(async () => {
    await w.close();
    await turns.queue.obliterate({ force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await turns.close();
    subscriber.disconnect();
    connection.disconnect();
    redis.disconnect();
  });
  await waitFor(async () => ((await redis.call('PUBSUB', 'NUMSUB', store.keys.arrivals)) as [string, number])[1] === 1);
  return { store, turns, ingress };
}

describe('interrupt mode with a full batch', () => {
  it('does not abort a turn for a message the next claim of its batch cannot take (the batch is full)', async () => {
    const seen: Array<{ texts: string[]; turnId: string }> = [];
    let interrupted = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { store, turns, ingress } = await interruptWorker('int-full', 2, async (ctx: TurnContext) => {
      seen.push({ texts: ctx.messages.map((m) => m.text), turnId: ctx.turnId });
      if (seen.length === 1) {
        // A model call in flight, abortable as the turn runner's is.
        await Promise.race([gate, new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()))]);
        if (ctx.signal.aborted) {
          interrupted += 1;
          throw new TurnInterruptedError(ctx.sessionKey);
        }
      }
    });
    // Three messages wait before the first turn: it takes two (its batch is full), the third waits.
    for (const t of ['m1', 'm2', 'm3']) await store.append(msg('full', t));
    await turns.request('full');
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.texts).toEqual(['m1', 'm2']);
    // A fourth arrives during the turn. The batch taken again would be m1, m2 once more: the
    // interruption would throw the model call away and redo the very same turn.
    await ingress.submit(msg('full', 'm4'));
    await new Promise((r) => setTimeout(r, 500));
    release();
    await waitFor(() => seen.flatMap((s) => s.texts).includes('m4'), { timeoutMs: 10_000 });
    expect(interrupted).toBe(0);
    expect(seen.map((s) => s.texts)).toEqual([['m1', 'm2'], ['m3', 'm4']]);
  });

  it('finishes a turn under a steady stream of messages once its batch is full (it was interrupted by each, and never finished)', async () => {
    const finished: string[][] = [];
    let interrupted = 0;
    const { store, turns, ingress } = await interruptWorker('int-busy', 3, async (ctx: TurnContext) => {
      // A 300 ms model call, aborted by a newer message.
      await new Promise<void>((r) => {
        const t = setTimeout(r, 300);
        ctx.signal.addEventListener('abort', () => (clearTimeout(t), r()));
      });
      if (ctx.signal.aborted) {
        interrupted += 1;
        throw new TurnInterruptedError(ctx.sessionKey);
      }
      finished.push(ctx.messages.map((m) => m.text));
    });
    // A busy group chat: a backlog larger than a batch, and a message every 100 ms for 3 s.
    for (let i = 0; i < 4; i++) await store.append(msg('busy', `b${i}`));
    await turns.request('busy');
    let firstDoneAt: number | undefined;
    const startedAt = Date.now();
    for (let i = 0; i < 30; i++) {
      await ingress.submit(msg('busy', `n${i}`));
      if (firstDoneAt === undefined && finished.length > 0) firstDoneAt = Date.now() - startedAt;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The session answered while the stream went on, not only once it stopped.
    expect(firstDoneAt, `turns interrupted meanwhile: ${interrupted}`).toBeDefined();
    expect(finished[0]).toEqual(['b0', 'b1', 'b2']);
  });
});
