import { Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { outboundQueue, type OutboundReply } from '@switchboard/contracts';
import { createRedis, laneKeys, LaneStore, ReplyPublisher } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { channelMetrics } from './metrics.ts';
import { createChannelOutboundWorker, DraftStore, type ChannelSender } from './outbound.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/**
 * A platform that shows messages by id. An edit of a deleted message fails as the platforms'
 * "message not found" does, and one of a message in `tooOld` as "can no longer be edited".
 */
function fakePlatform(opts: { failSends?: number; throttle?: { chatIds: readonly string[]; retryAfterMs: number }; slow?: { texts: readonly string[]; ms: number } } = {}) {
  const shown = new Map<string, string>();
  const tooOld = new Set<string>();
  const sends: Array<{ text: string; index: number; replyTo: readonly string[] }> = [];
  /** Texts whose send reached the platform (a slow one shows only `slow.ms` later). */
  const started: string[] = [];
  /** When each send reached the platform, and for which chat. */
  const sentAt: Array<{ chatId: string; text: string; atMs: number }> = [];
  /** Throttled chats that got their 429 (at the first send to them), and until when it holds. */
  const throttled = new Map<string, { untilMs: number }>();
  let failSends = opts.failSends ?? 0;
  let next = 0;
  const sender: ChannelSender = {
    render: (markdown) => markdown.split('\n---\n'),
    async send(target, text, o) {
      if (failSends > 0) {
        failSends -= 1;
        throw Object.assign(new Error('502 from the platform'), { transient: true });
      }
      if (opts.throttle?.chatIds.includes(target.chatId)) {
        const now = Date.now();
        const limit = throttled.get(target.chatId) ?? { untilMs: now + opts.throttle.retryAfterMs };
        throttled.set(target.chatId, limit);
        if (now < limit.untilMs) throw Object.assign(new Error('429 Too Many Requests'), { retryAfterMs: limit.untilMs - now });
      }
      started.push(text);
      if (opts.slow?.texts.includes(text)) await new Promise((r) => setTimeout(r, opts.slow!.ms));
      sends.push({ text, index: o.index, replyTo: o.replyTo });
      sentAt.push({ chatId: target.chatId, text, atMs: Date.now() });
      const id = `m${(next += 1)}`;
      shown.set(id, text);
      return id;
    },
    async edit(_target, id, text) {
      if (!shown.has(id)) throw Object.assign(new Error('message to edit not found'), { gone: true });
      if (tooOld.has(id)) throw Object.assign(new Error("message can't be edited"), { gone: true });
      shown.set(id, text);
    },
    async remove(_target, id) {
      if (!shown.delete(id)) throw Object.assign(new Error('message to delete not found'), { gone: true });
    },
    uneditable: (err) => (err as { gone?: boolean }).gone === true,
    async sendApproval() {},
    classify: (err) => {
      const e = err as { transient?: boolean; retryAfterMs?: number };
      if (e.retryAfterMs !== undefined) return { kind: 'rate_limited', retryAfterMs: e.retryAfterMs };
      return e.transient ? { kind: 'transient', reason: 'fake' } : { kind: 'permanent', reason: String(err) };
    },
  };
  return { sender, shown, sends, started, sentAt, tooOld, throttled };
}

/**
 * Starts an outbound worker, as one channel replica does: a worker of its own, on connections of
 * its own. Replicas of one deployment share `prefix`.
 */
async function start(
  platform: ReturnType<typeof fakePlatform>,
  pacing: {
    prefix?: string;
    sender?: ChannelSender;
    concurrency?: number;
    chatIntervalMs?: number;
    maxWaitingJobs?: number;
    maxTransientRetries?: number;
    maxOrderWaitMs?: number;
    maxJobsPerChat?: number;
  } = {},
) {
  const prefix = pacing.prefix ?? uniquePrefix('outbound');
  const redis = createRedis(inject('redisUrl'));
  const connection = createRedis(inject('redisUrl'));
  const registry = createRegistry();
  const drafts = new DraftStore(redis, prefix, 'fake');
  const { sender = platform.sender, concurrency = 2, chatIntervalMs = 0, maxWaitingJobs, maxTransientRetries, maxOrderWaitMs, maxJobsPerChat } = pacing;
  const worker = createChannelOutboundWorker({
    platform: 'fake',
    sender,
    connection,
    prefix,
    logger: createLogger({ service: 'test', level: 'silent' }),
    metrics: channelMetrics(registry),
    concurrency,
    chatIntervalMs,
    globalRatePerSecond: 1000,
    transientRetryMs: 10,
    ...(maxWaitingJobs === undefined ? {} : { maxWaitingJobs }),
    ...(maxTransientRetries === undefined ? {} : { maxTransientRetries }),
    ...(maxOrderWaitMs === undefined ? {} : { maxOrderWaitMs }),
    ...(maxJobsPerChat === undefined ? {} : { maxJobsPerChat }),
    chatDeferStepMs: 100,
    drafts,
  });
  const queue = new Queue(outboundQueue('fake').name, { connection: redis, prefix });
  cleanups.push(async () => {
    await worker.close();
    await queue.close();
    redis.disconnect();
    connection.disconnect();
  });
  const sends = async (outcome: string) => (await registry.getSingleMetric('switchboard_channel_sends_total')!.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { drafts, queue, sends, worker, redis, prefix };
}

/** The agent workers' side: replies enqueued as in production, each noted in its chat's order. */
function publisher(prefix: string) {
  const redis = createRedis(inject('redisUrl'));
  const replies = new ReplyPublisher({ store: new LaneStore(redis, { prefix }), connection: redis, prefix, queuedPlatforms: ['fake'], registry: createRegistry() });
  cleanups.push(async () => {
    await replies.close();
    redis.disconnect();
  });
  return { replies, redis, orderKey: (chatId: string) => laneKeys(prefix).outboundOrder('fake', chatId) };
}

/**
 * A reply to `chatId` that a replica took and then died with: the job stays active (its lock
 * outlives the test) and at the head of the chat's order.
 */
async function stuckReply(prefix: string, replies: ReplyPublisher, chatId: string) {
  await replies.deliver(turnReply('stuck', chatId));
  const connection = createRedis(inject('redisUrl'));
  const dead = new Worker(outboundQueue('fake').name, null, { connection, prefix });
  cleanups.push(async () => {
    await dead.close(true);
    connection.disconnect();
  });
  const job = await dead.getNextJob('dead-replica');
  expect(job?.id).toBe('reply-stuck');
}

const reply = (text: string, chatId = 'c1'): OutboundReply => ({
  v: 1, id: `reply-t1-${chatId}`, turnId: `t1-${chatId}`, sessionKey: `fake:bot:${chatId}`, platform: 'fake', account: 'bot', chatId, text, inReplyTo: ['in1'],
});

/** A reply of its own turn (`text` doubles as the turn id), for several replies to one chat. */
const turnReply = (text: string, chatId: string): OutboundReply => ({ ...reply(text, chatId), id: `reply-${text}`, turnId: text });

describe('channel outbound worker', () => {
  it('edits the turn’s draft into the reply', async () => {
    const platform = fakePlatform();
    const s = await start(platform);
    const draft = await platform.sender.send({ account: 'bot', chatId: 'c1' }, 'Hel …', { index: 0, replyTo: [] });
    platform.sends.length = 0;
    await s.drafts.claim('t1-c1');
    await s.drafts.adopt('t1-c1', draft!);
    await s.queue.add('reply', { v: 1, reply: reply('Hello.') });
    await waitFor(() => platform.shown.get(draft!) === 'Hello.');
    expect(platform.sends).toEqual([]);
    expect(await s.sends('edited')).toBe(1);
  });

  it('sends the reply as a new message, quoting its question, when the draft was deleted; a failing send is retried, never doubled', async () => {
    const platform = fakePlatform({ failSends: 2 });
    const s = await start(platform);
    await s.drafts.claim('t1-c1');
    await s.drafts.adopt('t1-c1', 'm-deleted'); // posted, then deleted by the user: the platform no longer has it
    await s.queue.add('reply', { v: 1, reply: reply('The whole answer.') });
    await waitFor(() => platform.sends.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(platform.sends).toEqual([{ text: 'The whole answer.', index: 0, replyTo: ['in1'] }]);
    expect([...platform.shown.values()]).toEqual(['The whole answer.']);
    expect(await s.sends('uneditable')).toBe(1);
    expect(await s.sends('sent')).toBe(1);
    expect(await s.sends('failed')).toBe(0);
  });

  it('takes down a draft that still exists but can no longer be edited, once the reply is out', async () => {
    const platform = fakePlatform();
    const s = await start(platform);
    const draft = await platform.sender.send({ account: 'bot', chatId: 'c1' }, 'The who …', { index: 0, replyTo: [] });
    platform.tooOld.add(draft!);
    await s.drafts.claim('t1-c1');
    await s.drafts.adopt('t1-c1', draft!);
    await s.queue.add('reply', { v: 1, reply: reply('The whole answer.') });
    await waitFor(() => !platform.shown.has(draft!));
    expect([...platform.shown.values()]).toEqual(['The whole answer.']);
  });

  it('paces each chat on its own: a chat waiting for its next part does not hold back another chat', async () => {
    const platform = fakePlatform();
    const s = await start(platform, { chatIntervalMs: 1000 });
    await s.queue.add('reply', { v: 1, reply: reply('one\n---\ntwo\n---\nthree', 'slow') });
    await waitFor(() => platform.sentAt.length === 1);
    const queued = Date.now();
    await s.queue.add('reply', { v: 1, reply: reply('hello', 'other') });
    await waitFor(() => platform.sentAt.some((x) => x.chatId === 'other'), { timeoutMs: 5000 });
    const other = platform.sentAt.find((x) => x.chatId === 'other')!;
    expect(other.atMs - queued).toBeLessThan(500);
    // The slow chat still keeps its own pace.
    await waitFor(() => platform.sentAt.filter((x) => x.chatId === 'slow').length === 3, { timeoutMs: 5000 });
    const slow = platform.sentAt.filter((x) => x.chatId === 'slow').map((x) => x.atMs);
    expect(slow[1]! - slow[0]!).toBeGreaterThanOrEqual(950);
    expect(slow[2]! - slow[1]!).toBeGreaterThanOrEqual(950);
  });

  // The worker in `start` sends for 2 chats at once (concurrency 2).
  it('a rate-limited chat with more replies queued than the worker’s concurrency does not hold back another chat', async () => {
    const platform = fakePlatform({ throttle: { chatIds: ['busy'], retryAfterMs: 2000 } });
    const s = await start(platform);
    const busy = ['b1', 'b2', 'b3', 'b4'];
    for (const text of busy) await s.queue.add('reply', { v: 1, reply: turnReply(text, 'busy') });
    await waitFor(() => platform.throttled.has('busy'));
    const queued = Date.now();
    await s.queue.add('reply', { v: 1, reply: reply('hello', 'other') });
    await waitFor(() => platform.sentAt.some((x) => x.chatId === 'other'), { timeoutMs: 5000 });
    expect(platform.sentAt.find((x) => x.chatId === 'other')!.atMs - queued).toBeLessThan(1500);
    expect(platform.sentAt.some((x) => x.chatId === 'busy')).toBe(false);
    // The throttled chat waits out its Retry-After, then sends every reply once, in order.
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 5, { timeoutMs: 10_000 });
    const sentBusy = platform.sentAt.filter((x) => x.chatId === 'busy');
    expect(sentBusy.map((x) => x.text)).toEqual(busy);
    expect(await s.sends('rate_limited')).toBeGreaterThanOrEqual(1);
    expect(await s.sends('failed')).toBe(0);
  });

  it('chats sleeping out a rate limit do not take up the sends: as many throttled chats as the concurrency leave another chat flowing', async () => {
    const platform = fakePlatform({ throttle: { chatIds: ['busy1', 'busy2'], retryAfterMs: 2000 } });
    const s = await start(platform);
    await s.queue.add('reply', { v: 1, reply: reply('b1', 'busy1') });
    await s.queue.add('reply', { v: 1, reply: reply('b2', 'busy2') });
    await waitFor(() => platform.throttled.size === 2);
    const queued = Date.now();
    await s.queue.add('reply', { v: 1, reply: reply('hello', 'other') });
    await waitFor(() => platform.sentAt.some((x) => x.chatId === 'other'), { timeoutMs: 5000 });
    expect(platform.sentAt.find((x) => x.chatId === 'other')!.atMs - queued).toBeLessThan(1500);
    await waitFor(() => platform.sentAt.length === 3, { timeoutMs: 10_000 });
    expect(platform.sentAt.map((x) => x.chatId).sort()).toEqual(['busy1', 'busy2', 'other']);
  });

  it('holds at most concurrency + maxWaitingJobs jobs of a flood for one throttled chat, and sends them all in order', async () => {
    const platform = fakePlatform({ throttle: { chatIds: ['busy'], retryAfterMs: 2000 } });
    const s = await start(platform, { maxWaitingJobs: 2 });
    const busy = Array.from({ length: 10 }, (_, i) => `b${i + 1}`);
    for (const text of busy) await s.queue.add('reply', { v: 1, reply: turnReply(text, 'busy') });
    await waitFor(() => platform.throttled.has('busy'));
    // 2 + 2 jobs taken; the rest stay in Redis until the throttled chat moves again (sampled while it waits).
    await waitFor(async () => (await s.queue.getJobCounts('active')).active === 4);
    for (let i = 0; i < 5; i++) {
      expect(await s.queue.getJobCounts('active', 'wait')).toEqual({ active: 4, wait: 6 });
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 10, { timeoutMs: 10_000 });
    expect(platform.sentAt.map((x) => x.text)).toEqual(busy);
  });
});

describe('channel outbound worker: one chat’s flood', () => {
  it('takes at most maxJobsPerChat jobs of a throttled chat’s flood, so another chat is not held back, and sends the flood in order', async () => {
    const platform = fakePlatform({ throttle: { chatIds: ['busy'], retryAfterMs: 3000 } });
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    // Room for 4 jobs in all; a chat may hold 2 of them.
    const s = await start(platform, { prefix, maxWaitingJobs: 2, maxJobsPerChat: 2 });
    const busy = Array.from({ length: 10 }, (_, i) => `b${i + 1}`);
    for (const text of busy) await p.replies.deliver(turnReply(text, 'busy'));
    await waitFor(() => platform.throttled.has('busy'));
    // Without the per-chat bound the flood's jobs would fill all 4 places until the limit is over.
    await new Promise((r) => setTimeout(r, 200));
    const queued = Date.now();
    await p.replies.deliver(reply('hello', 'other'));
    await waitFor(() => platform.sentAt.some((x) => x.chatId === 'other'), { timeoutMs: 5000 });
    expect(platform.sentAt.find((x) => x.chatId === 'other')!.atMs - queued).toBeLessThan(1500);
    expect(platform.sentAt.some((x) => x.chatId === 'busy')).toBe(false);
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 11, { timeoutMs: 20_000 });
    expect(platform.sentAt.filter((x) => x.chatId === 'busy').map((x) => x.text)).toEqual(busy);
    expect(await s.sends('failed')).toBe(0);
    expect(await p.redis.exists(p.orderKey('busy'))).toBe(0);
  });
});

describe('channel outbound worker: a chat’s order across replicas', () => {
  it('sends a chat’s next reply, taken by another replica, only after the slow one before it', async () => {
    const platform = fakePlatform({ slow: { texts: ['one'], ms: 1500 } });
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    const sentBy: Array<{ replica: string; text: string }> = [];
    const replica = (name: string): ChannelSender => ({
      ...platform.sender,
      async send(target, part, o) {
        const id = await platform.sender.send(target, part, o);
        sentBy.push({ replica: name, text: part });
        return id;
      },
    });
    // Replica a holds one job at most: while it sends the first reply, only b can take the second.
    const a = await start(platform, { prefix, sender: replica('a'), concurrency: 1, maxWaitingJobs: 0 });
    await p.replies.deliver(turnReply('one', 'c1'));
    await waitFor(() => platform.started.includes('one'));
    await start(platform, { prefix, sender: replica('b') });
    await p.replies.deliver(turnReply('two', 'c1'));
    await waitFor(async () => (await a.queue.getJobCounts('completed')).completed === 2, { timeoutMs: 10_000 });
    expect(sentBy).toEqual([{ replica: 'a', text: 'one' }, { replica: 'b', text: 'two' }]);
    expect(platform.sentAt.map((x) => x.text)).toEqual(['one', 'two']);
    expect(await p.redis.exists(p.orderKey('c1'))).toBe(0);
  });

  it('a reply back in the queue for a retry keeps its place: the chat’s next reply waits for it', async () => {
    const platform = fakePlatform({ failSends: 1 });
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    const s = await start(platform, { prefix, maxTransientRetries: 0 });
    await p.replies.deliver(turnReply('one', 'c1'));
    await waitFor(async () => (await s.queue.getJobState('reply-one')) === 'delayed');
    await p.replies.deliver(turnReply('two', 'c1'));
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 2, { timeoutMs: 10_000 });
    expect(platform.sentAt.map((x) => x.text)).toEqual(['one', 'two']);
  });

  it('a finished reply left in the chat’s order (its replica died before taking it out) does not hold back the next', async () => {
    const platform = fakePlatform();
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    const s = await start(platform, { prefix });
    await p.replies.deliver(turnReply('one', 'c1'));
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 1);
    const [seconds] = await p.redis.time();
    const nowMs = Number(seconds) * 1000;
    // Sent, but still in the order; and a job that no longer exists, noted a minute ago.
    await p.redis.zadd(p.orderKey('c1'), nowMs - 1000, 'reply-one', nowMs - 60_000, 'reply-gone');
    const queued = Date.now();
    await p.replies.deliver(turnReply('two', 'c1'));
    await waitFor(() => platform.sentAt.some((x) => x.text === 'two'));
    expect(platform.sentAt.find((x) => x.text === 'two')!.atMs - queued).toBeLessThan(1000);
    expect(await p.redis.exists(p.orderKey('c1'))).toBe(0);
  });

  it('waits for a reply noted in the chat’s order whose job is not added yet (a producer between the two steps)', async () => {
    const platform = fakePlatform();
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    const s = await start(platform, { prefix });
    const [seconds] = await p.redis.time();
    await p.redis.zadd(p.orderKey('c1'), Number(seconds) * 1000, 'reply-zero');
    await p.replies.deliver(turnReply('two', 'c1'));
    await waitFor(async () => (await s.queue.getJobState('reply-two')) === 'active');
    await new Promise((r) => setTimeout(r, 500));
    expect(platform.sentAt).toEqual([]);
    await s.queue.add('reply', { v: 1, reply: turnReply('zero', 'c1') }, { jobId: 'reply-zero' });
    await waitFor(async () => (await s.queue.getJobCounts('completed')).completed === 2);
    expect(platform.sentAt.map((x) => x.text)).toEqual(['zero', 'two']);
  });

  it('waits about maxOrderWaitMs, not forever, for a reply stuck in a dead replica; the chat’s later replies no longer wait for it', async () => {
    const platform = fakePlatform();
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    await stuckReply(prefix, p.replies, 'c1');
    await start(platform, { prefix, maxOrderWaitMs: 1000 });
    const queued = Date.now();
    await p.replies.deliver(turnReply('next', 'c1'));
    await waitFor(() => platform.sentAt.some((x) => x.text === 'next'), { timeoutMs: 5000 });
    const waitedMs = platform.sentAt.find((x) => x.text === 'next')!.atMs - queued;
    expect(waitedMs).toBeGreaterThanOrEqual(900);
    expect(waitedMs).toBeLessThan(3000);
    const queuedAfter = Date.now();
    await p.replies.deliver(turnReply('after', 'c1'));
    await waitFor(() => platform.sentAt.some((x) => x.text === 'after'), { timeoutMs: 5000 });
    expect(platform.sentAt.find((x) => x.text === 'after')!.atMs - queuedAfter).toBeLessThan(850);
    expect(platform.sentAt.map((x) => x.text)).toEqual(['next', 'after']);
  });

  it('a chat waiting for its order holds no send permit: other chats are not delayed', async () => {
    const platform = fakePlatform();
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    await stuckReply(prefix, p.replies, 'c1');
    // One call to the platform at a time: a waiting job holding it would stop every chat.
    const s = await start(platform, { prefix, concurrency: 1, maxOrderWaitMs: 10_000 });
    await p.replies.deliver(turnReply('waits', 'c1'));
    await waitFor(async () => (await s.queue.getJobState('reply-waits')) === 'active');
    const queued = Date.now();
    await p.replies.deliver(turnReply('hello', 'c2'));
    await waitFor(() => platform.sentAt.some((x) => x.text === 'hello'), { timeoutMs: 5000 });
    expect(platform.sentAt.find((x) => x.text === 'hello')!.atMs - queued).toBeLessThan(3000);
    expect(platform.sentAt.map((x) => x.text)).toEqual(['hello']);
  });

  it('a closing replica puts a reply waiting for its turn back in the queue, place and attempts kept, instead of waiting it out', async () => {
    const platform = fakePlatform();
    const prefix = uniquePrefix('outbound');
    const p = publisher(prefix);
    await stuckReply(prefix, p.replies, 'c1');
    const s = await start(platform, { prefix, maxOrderWaitMs: 30_000 });
    await p.replies.deliver(turnReply('waits', 'c1'));
    await waitFor(async () => (await s.queue.getJobState('reply-waits')) === 'active');
    const closing = Date.now();
    await s.worker.close();
    expect(Date.now() - closing).toBeLessThan(3000);
    const job = (await s.queue.getJob('reply-waits'))!;
    expect(['delayed', 'waiting']).toContain(await job.getState());
    expect(job.attemptsMade).toBe(0);
    expect(await p.redis.zrange(p.orderKey('c1'), '0', '-1')).toEqual(['reply-stuck', 'reply-waits']);
    expect(platform.sentAt).toEqual([]);
  });
});
