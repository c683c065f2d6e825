// A chat's replies put back by maxJobsPerChat (in BullMQ's delayed set) keep their order: a later
// reply is not taken while earlier ones are put back, so it never waits on them long enough to go
// "overdue" in ChatOrder and be sent first.
import { Queue } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { outboundQueue, type OutboundReply } from '@switchboard/contracts';
import { createRedis, laneKeys, LaneStore, ReplyPublisher } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { channelMetrics } from './metrics.ts';
import { createChannelOutboundWorker, type ChannelOutboundOptions, type ChannelSender } from './outbound.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const turnReply = (text: string, chatId: string): OutboundReply => ({
  v: 1, id: `reply-${text}`, turnId: text, sessionKey: `fake:bot:${chatId}`, platform: 'fake', account: 'bot', chatId, text, inReplyTo: ['in1'],
});

/**
 * A producer (the agent workers' side: each reply noted in its chat's order), a sender that records
 * what it sends, and `startWorker` for one outbound worker with the given pacing.
 */
function harness() {
  const sent: string[] = [];
  const sender: ChannelSender = {
    render: (m) => [m],
    async send(_t, text) {
      sent.push(text);
      return `m${sent.length}`;
    },
    async sendApproval() {},
    classify: () => ({ kind: 'permanent', reason: 'x' }),
  };
  const prefix = uniquePrefix('outdefer');
  const redis = createRedis(inject('redisUrl'));
  const connection = createRedis(inject('redisUrl'));
  const replies = new ReplyPublisher({ store: new LaneStore(redis, { prefix }), connection: redis, prefix, queuedPlatforms: ['fake'], registry: createRegistry() });
  const queue = new Queue(outboundQueue('fake').name, { connection: redis, prefix });
  const workers: Array<ReturnType<typeof createChannelOutboundWorker>> = [];
  cleanups.push(async () => {
    for (const w of workers) await w.close();
    await replies.close();
    await queue.close();
    redis.disconnect();
    connection.disconnect();
  });
  const startWorker = (pacing: Partial<ChannelOutboundOptions>) =>
    workers.push(
      createChannelOutboundWorker({
        platform: 'fake', sender, connection, prefix,
        logger: createLogger({ service: 'test', level: 'silent' }),
        metrics: channelMetrics(createRegistry()),
        concurrency: 2, chatIntervalMs: 0, globalRatePerSecond: 1000,
        ...pacing,
      }),
    );
  const completed = async () => (await queue.getJobCounts('completed')).completed;
  return { sent, replies, startWorker, completed, redis, prefix };
}

describe('channel outbound worker: replies put back by maxJobsPerChat', () => {
  it('a later reply taken while earlier ones are deferred is not sent before them', async () => {
    const h = harness();
    h.startWorker({ chatIntervalMs: 400, maxWaitingJobs: 4, maxJobsPerChat: 2, chatDeferStepMs: 3000, maxOrderWaitMs: 1500 });
    for (const t of ['b1', 'b2', 'b3', 'b4']) await h.replies.deliver(turnReply(t, 'busy'));
    await waitFor(() => h.sent.length >= 2, { timeoutMs: 5000 });
    await h.replies.deliver(turnReply('b5', 'busy'));
    await waitFor(async () => (await h.completed()) === 5, { timeoutMs: 30_000 });
    expect(h.sent).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
  }, 40_000);

  it('brings the next replies forward as the chat’s replies go out: a burst drains at the platform’s pace, not the deferral’s', async () => {
    const h = harness();
    const burst = Array.from({ length: 8 }, (_, i) => `r${i + 1}`);
    for (const t of burst) await h.replies.deliver(turnReply(t, 'fast'));
    // The whole burst is queued before the worker starts: it finds 8 replies to one chat, and puts
    // them back for 10 s per place; only bringing them forward gets the burst out in time.
    const started = Date.now();
    h.startWorker({ maxJobsPerChat: 2, chatDeferStepMs: 10_000 });
    await waitFor(async () => (await h.completed()) === burst.length, { timeoutMs: 8_000 });
    expect(h.sent).toEqual(burst);
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('takes a reply past the first ones in order when those are finished already (entries a re-delivery noted again), and clears them', async () => {
    const h = harness();
    h.startWorker({ orderGraceMs: 200 });
    for (const t of ['a1', 'a2', 'a3']) await h.replies.deliver(turnReply(t, 'c'));
    await waitFor(async () => (await h.completed()) === 3, { timeoutMs: 5000 });
    // A resumed turn delivers its replies again: nothing is sent twice, but the chat's order notes them anew.
    for (const t of ['a1', 'a2', 'a3']) await h.replies.deliver(turnReply(t, 'c'));
    await h.replies.deliver(turnReply('a4', 'c'));
    await waitFor(() => h.sent.includes('a4'), { timeoutMs: 5000 });
    expect(h.sent).toEqual(['a1', 'a2', 'a3', 'a4']);
  });

  it('keeps a flood put back behind an entry whose job is not added yet, and clears that entry once its grace is over', async () => {
    const h = harness();
    h.startWorker({ concurrency: 1, maxWaitingJobs: 3, maxJobsPerChat: 2, orderGraceMs: 3000, chatDeferStepMs: 200 });
    // A producer noted 'reply-ghost' first in chat 'busy' and died before adding its job.
    const [seconds, micros] = await h.redis.time();
    await h.redis.zadd(laneKeys(h.prefix).outboundOrder('fake', 'busy'), Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), 'reply-ghost');
    const flood = Array.from({ length: 8 }, (_, i) => `b${i + 1}`);
    for (const t of flood) await h.replies.deliver(turnReply(t, 'busy'));
    await new Promise((r) => setTimeout(r, 300));
    // The flood does not take every place (1 + 3) while it waits: another chat goes out at once.
    const queued = Date.now();
    await h.replies.deliver(turnReply('hello', 'other'));
    await waitFor(() => h.sent.includes('hello'), { timeoutMs: 5000 });
    expect(Date.now() - queued).toBeLessThan(1000);
    // Past the grace period the dead entry is cleared and the flood goes out, in order.
    await waitFor(async () => (await h.completed()) === flood.length + 1, { timeoutMs: 15_000 });
    expect(h.sent.filter((t) => t !== 'hello')).toEqual(flood);
  });
});
