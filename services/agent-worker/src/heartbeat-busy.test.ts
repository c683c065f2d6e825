import { Queue } from 'bullmq';
import { describe, expect, inject, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import { createRedis, laneKeys, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { heartbeatQueueName, parseHeartbeat, startHeartbeat } from './heartbeat.ts';

/**
 * A heartbeat whose check-in has not been handled yet (its turn is slow, or the session is busy
 * with a long turn) must not queue another: each queued one is a model call of its own once the
 * session frees up (one turn each in followup mode), and with a period shorter than the turns
 * they pile up without bound. Nor may a check-in land while the user's own turn runs: collected
 * with the user's next message it makes an ordinary turn (tools offered, the model told to answer
 * NO_REPLY, which the turn runner then sends to the user verbatim), and in interrupt mode it cuts
 * the user's turn short.
 */
describe('heartbeat while the previous one is still pending', () => {
  it('checks in only while the session has nothing waiting or running', async () => {
    const redis = createRedis(inject('redisUrl'));
    const blocking = createRedis(inject('redisUrl'));
    const prefix = uniquePrefix('hbpile');
    const registry = createRegistry({ defaultMetrics: false });
    const store = new LaneStore(redis, { prefix });
    const turns = new TurnQueue(redis, prefix);
    const ingress = new LaneIngress(store, turns, registry);
    const hb = await startHeartbeat({
      config: parseHeartbeat(JSON.stringify({ sessionId: 's', everyMs: 3600_000 }))!,
      agentName: 'pile', connection: redis, blocking, prefix, ingress, logger: createLogger({ service: 'test', level: 'silent' }), registry,
    });
    const queue = new Queue(heartbeatQueueName('pile'), { connection: redis, prefix });
    const sessionKey = 'web:local:s';
    const inbox = async () =>
      (await redis.xrange(laneKeys(prefix).inbox(sessionKey), '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('m') + 1]!) as InboundMessage);
    const fire = async (dueMs: number) => {
      const id = `repeat:heartbeat-pile:${dueMs}`;
      await queue.add('heartbeat', {}, { jobId: id });
      await waitFor(async () => (await queue.getJobState(id)) === 'completed');
      return (await queue.getJob(id))!.returnvalue as string;
    };
    try {
      const now = Date.now();
      expect(await fire(now)).toBe('woke');
      // The first check-in's turn has started and is slow: it holds the batch, unacknowledged.
      const claimed = (await store.claim(sessionKey, 10))!;
      expect(claimed.messages.map((m) => m.trigger)).toEqual(['heartbeat']);
      // Two more periods pass meanwhile.
      expect(await fire(now + 1)).toBe('skipped_busy');
      expect(await fire(now + 2)).toBe('skipped_busy');
      expect((await inbox()).filter((m) => m.trigger === 'heartbeat')).toHaveLength(1);
      // The turn finishes: the next firing checks in again.
      expect(await store.ack(sessionKey, claimed, claimed.streamIds)).toBe(0);
      expect(await fire(now + 3)).toBe('woke');
      expect((await inbox()).filter((m) => m.trigger === 'heartbeat')).toHaveLength(1);
      const second = (await store.claim(sessionKey, 10))!;
      expect(await store.ack(sessionKey, second, second.streamIds)).toBe(0);

      // The user's turn is running (slow): a check-in now would be collected with the user's next
      // message into one ordinary turn (with tools, told to answer NO_REPLY), or interrupt it.
      await ingress.submit({ v: 1, platform: 'web', sessionKey, account: 'local', chatId: 's', userId: 'local/s', kind: 'user', text: 'summarise this long file', receivedAtMs: Date.now() });
      const userTurn = (await store.claim(sessionKey, 10))!;
      expect(await fire(now + 4)).toBe('skipped_busy');
      await ingress.submit({ v: 1, platform: 'web', sessionKey, account: 'local', chatId: 's', userId: 'local/s', kind: 'user', text: 'and then mail it to me', receivedAtMs: Date.now() });
      expect(await store.ack(sessionKey, userTurn, userTurn.streamIds)).toBe(1);
      const next = (await store.claim(sessionKey, 10))!;
      expect(next.messages.map((m) => m.trigger ?? m.kind)).toEqual(['user']);
    } finally {
      await hb.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await turns.queue.obliterate({ force: true });
      await turns.close();
      blocking.disconnect();
      redis.disconnect();
    }
  });
});
