import { Queue } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { outboundQueue, type OutboundReply } from '@switchboard/contracts';
import { createRedis } from '@switchboard/lanes';
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
function fakePlatform(opts: { failSends?: number; throttle?: { chatIds: readonly string[]; retryAfterMs: number } } = {}) {
  const shown = new Map<string, string>();
  const tooOld = new Set<string>();
  const sends: Array<{ text: string; index: number; replyTo: readonly string[] }> = [];
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
  return { sender, shown, sends, sentAt, tooOld, throttled };
}

async function start(platform: ReturnType<typeof fakePlatform>, pacing: { chatIntervalMs?: number; maxWaitingJobs?: number } = {}) {
  const prefix = uniquePrefix('outbound');
  const redis = createRedis(inject('redisUrl'));
  const registry = createRegistry();
  const drafts = new DraftStore(redis, prefix, 'fake');
  const worker = createChannelOutboundWorker({
    platform: 'fake',
    sender: platform.sender,
    connection: createRedis(inject('redisUrl')),
    prefix,
    logger: createLogger({ service: 'test', level: 'silent' }),
    metrics: channelMetrics(registry),
    concurrency: 2,
    chatIntervalMs: pacing.chatIntervalMs ?? 0,
    globalRatePerSecond: 1000,
    transientRetryMs: 10,
    ...(pacing.maxWaitingJobs === undefined ? {} : { maxWaitingJobs: pacing.maxWaitingJobs }),
    drafts,
  });
  const queue = new Queue(outboundQueue('fake').name, { connection: redis, prefix });
  cleanups.push(async () => {
    await worker.close();
    await queue.close();
    redis.disconnect();
  });
  const sends = async (outcome: string) => (await registry.getSingleMetric('switchboard_channel_sends_total')!.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { drafts, queue, sends };
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
    expect(platform.sentAt.find((x) => x.chatId === 'other')!.atMs - queued).toBeLessThan(500);
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
    expect(platform.sentAt.find((x) => x.chatId === 'other')!.atMs - queued).toBeLessThan(500);
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
