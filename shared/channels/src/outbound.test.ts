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
function fakePlatform(opts: { failSends?: number } = {}) {
  const shown = new Map<string, string>();
  const tooOld = new Set<string>();
  const sends: Array<{ text: string; index: number; replyTo: readonly string[] }> = [];
  /** When each send reached the platform, and for which chat. */
  const sentAt: Array<{ chatId: string; atMs: number }> = [];
  let failSends = opts.failSends ?? 0;
  let next = 0;
  const sender: ChannelSender = {
    render: (markdown) => markdown.split('\n---\n'),
    async send(target, text, o) {
      if (failSends > 0) {
        failSends -= 1;
        throw Object.assign(new Error('502 from the platform'), { transient: true });
      }
      sends.push({ text, index: o.index, replyTo: o.replyTo });
      sentAt.push({ chatId: target.chatId, atMs: Date.now() });
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
    classify: (err) => ((err as { transient?: boolean }).transient ? { kind: 'transient', reason: 'fake' } : { kind: 'permanent', reason: String(err) }),
  };
  return { sender, shown, sends, sentAt, tooOld };
}

async function start(platform: ReturnType<typeof fakePlatform>, pacing: { chatIntervalMs?: number } = {}) {
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
});
