import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { OutboundJob, outboundQueue, type ApprovalNotice, type OutboundReply } from '@switchboard/contracts';
import { laneKeys, LuaScript } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ChannelMetrics } from './metrics.ts';
import { KeyedSerial } from './keyed-serial.ts';
import { ChatOrder } from './outbound-order.ts';

/** Where a message goes on a platform. */
export interface ChatTarget {
  account: string;
  chatId: string;
  threadId?: string | undefined;
}

/** How a platform error should be handled by the outbound worker. */
export type SendFailure =
  /** The platform asked us to slow down: wait `retryAfterMs`, then send the same part again. */
  | { kind: 'rate_limited'; retryAfterMs: number }
  /** The platform refused for good (bad chat, no permission): retrying cannot help. */
  | { kind: 'permanent'; reason: string }
  /** The platform failed or was unreachable: the job is retried later, from the part that failed. */
  | { kind: 'transient'; reason: string };

/** A platform's side of the outbound worker. */
export interface ChannelSender {
  /** Renders model markdown into the platform's format, split into parts within its length limit. */
  render(markdown: string): string[];
  /**
   * Sends one part. `replyTo` is the inbound message ids the reply answers (the first part may
   * quote the last of them). `key` (`<reply id>-<part index>`) is stable across retries, for
   * platforms that can deduplicate a resent message (Discord's nonce). Returns the platform's id
   * of the sent message.
   */
  send(target: ChatTarget, part: string, opts: { index: number; replyTo: readonly string[]; key?: string }): Promise<string | undefined>;
  /** Replaces a message's text (used to turn a streamed draft into the final first part). */
  edit?(target: ChatTarget, messageId: string, part: string): Promise<void>;
  /**
   * Whether an error thrown by `edit` means the message is gone or can no longer be edited (the
   * user deleted the draft, or it is too old): the first part is then sent as a new message.
   */
  uneditable?(err: unknown): boolean;
  /** Deletes a message (a draft that could not be edited into the reply, once the reply is sent). */
  remove?(target: ChatTarget, messageId: string): Promise<void>;
  /** Shows an approval request with Approve/Deny buttons. */
  sendApproval(target: ChatTarget, notice: ApprovalNotice): Promise<void>;
  /** Classifies an error thrown by `send`, `edit` or `sendApproval`. */
  classify(err: unknown): SendFailure;
}

export interface ChannelOutboundOptions {
  platform: string;
  sender: ChannelSender;
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: ChannelMetrics;
  /** Calls to the platform one process makes at once (to different chats: one chat's are sequential). */
  concurrency: number;
  /**
   * Jobs one process holds beyond `concurrency` that only wait (behind an earlier reply to their
   * chat, out a rate limit, for their chat's pace). Default `3 * concurrency`.
   */
  maxWaitingJobs?: number;
  /** Smallest gap between two sends to one chat, in ms. */
  chatIntervalMs: number;
  /** Sends per second overall (all chats, this process; BullMQ's limiter caps jobs across processes too). */
  globalRatePerSecond: number;
  /** Most rate-limit answers waited out in-process for one part before the job fails for a retry. */
  max429Waits?: number;
  /**
   * Transient failures (5xx, unreachable) retried in-process for one part, while the job keeps
   * its place in the chat's order, before the job fails for BullMQ's retry (later replies to the
   * chat then wait for it up to `maxOrderWaitMs`). Default 5, waiting 0.5, 1, 2, 4 and 8 s
   * (`transientRetryMs` doubling).
   */
  maxTransientRetries?: number;
  transientRetryMs?: number;
  /** Drafts: where a streamed reply's draft message id is kept (see DraftStore). */
  drafts?: DraftStore;
  /**
   * Longest wait of a job for the replies enqueued to its chat before it (held by another replica,
   * or back in the queue for a retry), in ms; then it is sent anyway and those lose their place.
   * Default 60 000.
   */
  maxOrderWaitMs?: number;
  /** How often a chat's order is read while its next reply waits on another replica, in ms. Default 200. */
  orderPollMs?: number;
  /**
   * How long a reply waits on an earlier one whose job does not exist (yet: the producer notes it
   * first), in ms, before taking it for dead. Default 10 000.
   */
  orderGraceMs?: number;
  /**
   * How many of a chat's first replies in order are taken from the queue (default 3): a later one
   * goes back to the queue for a while, longer the further back it is, and the one next in line
   * is brought forward each time a reply to the chat is sent. So a flood of replies to one chat,
   * slowed by its rate limit, cannot take every job a process may hold, and no reply is taken
   * (and left waiting on the ones before it) long before its turn.
   */
  maxJobsPerChat?: number;
  /**
   * How long a job put back by `maxJobsPerChat` stays out, per place past them, in ms, at most
   * half of `maxOrderWaitMs` (and 30 s). Default 1 000.
   */
  chatDeferStepMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a draft edit's lock lasts without renewal (a streamer that died mid-edit frees it by then). */
const DRAFT_LOCK_MS = 10_000;
/** Value of a draft slot without a usable draft: its post came too late (DraftStore.abandon), or it was deleted (gone). */
const ABANDONED = '-';
/**
 * Sets a draft slot to ARGV[2] if it holds ARGV[1]: a claimed slot ('', its post under way) gets the
 * posted message's id (adopt) or ABANDONED (abandon), and a slot whose draft was deleted, ABANDONED
 * (gone). 0 when the slot holds anything else: of two such changes, whichever comes second loses.
 */
const REPLACE_IF = new LuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0`);

/**
 * Where a channel keeps the message it streams a turn's reply into, so that whichever replica
 * sends the final reply edits that draft instead of posting a second message.
 */
export class DraftStore {
  private readonly redis: Redis;
  private readonly base: string;
  private readonly lockMs: number;
  /** `lockMs`: how long an edit's lock lasts unrenewed (default 10 s). */
  constructor(redis: Redis, prefix: string, platform: string, opts: { lockMs?: number } = {}) {
    this.redis = redis;
    this.base = `${prefix}:ch:${platform}:draft`;
    this.lockMs = opts.lockMs ?? DRAFT_LOCK_MS;
  }
  /** The turn's draft slot: '' while its post is under way, then the message id (or ABANDONED). */
  private slot(turnId: string): string {
    return `${this.base}:${turnId}`;
  }
  /** Claims the draft slot of a turn; false when another writer already created one. */
  async claim(turnId: string): Promise<boolean> {
    return (await this.redis.set(this.slot(turnId), '', 'EX', 3600, 'NX')) === 'OK';
  }
  /**
   * Records the claimed slot's posted message; false when the final reply stopped waiting for
   * this post (it was abandoned) and went out as a message of its own, so the draft is left over.
   */
  async adopt(turnId: string, messageId: string): Promise<boolean> {
    return (await REPLACE_IF.run(this.redis, [this.slot(turnId)], ['', messageId, 3600])) === 1;
  }
  /** The draft's message id, '' while it is being created, or undefined when there is none (or it was abandoned). */
  async get(turnId: string): Promise<string | undefined> {
    const id = await this.redis.get(this.slot(turnId));
    return id === null || id === ABANDONED ? undefined : id;
  }
  /** Gives up a claim that never got a message (the post failed or the turn was final first). */
  async release(turnId: string): Promise<void> {
    if ((await this.redis.get(this.slot(turnId))) === '') await this.redis.del(this.slot(turnId));
  }
  /**
   * Gives up waiting for a draft whose post is still under way: its message, if it ever comes, is
   * not adopted (the streamer takes it down). False when the slot holds no such post.
   */
  async abandon(turnId: string): Promise<boolean> {
    return (await REPLACE_IF.run(this.redis, [this.slot(turnId)], ['', ABANDONED, 3600])) === 1;
  }
  /**
   * Records that the turn's draft `messageId` is gone (the user deleted it): the final reply then
   * goes out as a new message without first trying to edit it.
   */
  async gone(turnId: string, messageId: string): Promise<void> {
    await REPLACE_IF.run(this.redis, [this.slot(turnId)], [messageId, ABANDONED, 3600]);
  }
  /** Records that the turn's final reply reached the platform (or failed for good): later drafts may appear below it. */
  async delivered(turnId: string): Promise<void> {
    await this.redis.set(`${this.base}:${turnId}:sent`, '1', 'EX', 3600);
  }
  async isDelivered(turnId: string): Promise<boolean> {
    return (await this.redis.exists(`${this.base}:${turnId}:sent`)) === 1;
  }
  /** Marks the turn final: later draft edits (a slow streamer) must not overwrite the reply. */
  async finish(turnId: string): Promise<void> {
    await this.redis.set(`${this.base}:${turnId}:final`, '1', 'EX', 3600);
  }
  async isFinished(turnId: string): Promise<boolean> {
    return (await this.redis.exists(`${this.base}:${turnId}:final`)) === 1;
  }
  /**
   * Runs a draft edit (or post) while holding the turn's edit lock, unless the turn is already
   * final. The lock is renewed for as long as the platform takes, and the outbound worker waits for
   * it before its final edit, so a slow streamer neither overwrites the reply nor posts a second one.
   */
  async editUnlessFinal(turnId: string, edit: () => Promise<void>): Promise<boolean> {
    const lock = `${this.base}:${turnId}:lock`;
    if ((await this.redis.set(lock, '1', 'PX', this.lockMs, 'NX')) !== 'OK') return false;
    const renew = setInterval(() => void this.redis.pexpire(lock, this.lockMs).catch(() => undefined), this.lockMs / 3);
    renew.unref();
    try {
      if (await this.isFinished(turnId)) return false;
      await edit();
      return true;
    } finally {
      clearInterval(renew);
      await this.redis.del(lock);
    }
  }
  /** Waits (at most `maxMs`) until no draft edit of the turn is in flight. */
  async waitForEdits(turnId: string, maxMs = 60_000): Promise<void> {
    const lock = `${this.base}:${turnId}:lock`;
    for (let waited = 0; waited < maxMs && (await this.redis.exists(lock)) === 1; waited += 100) await sleep(100);
  }
}

/**
 * Consumes `outbound-<platform>`: renders each reply, splits it, and sends the parts in order; shows
 * approval requests as buttons.
 *
 * Order per chat, across replicas: ReplyPublisher notes each job in its chat's order index
 * (`LaneKeys.outboundOrder`, by enqueue time) before adding it, and a job sends only once it is
 * that index's head, i.e. once every earlier reply to the chat was sent (or failed for good),
 * whichever replica took it and even while it is back in the queue for a retry. A job waiting for
 * its turn holds no send permit, and other chats keep flowing. The wait is bounded
 * (`maxOrderWaitMs`): a reply stuck in a dead replica or retried for long holds the chat back
 * that long once, not forever. Finished heads that were never taken out (a consumer crashed after
 * sending) are cleared by whoever waits on them. Jobs without an entry (enqueued by an older
 * producer) just go. Within the process, a chat's sends also go through one promise chain. Parts
 * already sent are recorded as job progress, so a retried job sends only what is missing (a reply
 * is never sent twice).
 *
 * Bound: the process holds `concurrency + maxWaitingJobs` jobs at most (BullMQ's concurrency; by
 * default `4 * concurrency`), of a chat only its first `maxJobsPerChat` replies in order, and only
 * `concurrency` calls to the platform run at once: a send permit is taken per call and let go
 * before any wait of the chat's own (its pace, a 429's Retry-After, a transient failure's
 * backoff), and a job queued behind its chat's earlier reply holds none. So one chat's flood
 * cannot fill the bound; throttled chats hold back the others only once as many of them as the
 * bound allows wait out their limits at once.
 */
export function createChannelOutboundWorker(opts: ChannelOutboundOptions): Worker {
  const { platform, sender, metrics } = opts;
  const log = opts.logger.child({ queue: outboundQueue(platform).name });
  const chats = new KeyedSerial();
  const lastSentAt = new Map<string, number>();
  const max429Waits = opts.max429Waits ?? 20;
  const maxTransientRetries = opts.maxTransientRetries ?? 5;
  const transientRetryMs = opts.transientRetryMs ?? 500;
  const globalGapMs = 1000 / opts.globalRatePerSecond;
  let nextGlobalSlot = 0;
  const keys = laneKeys(opts.prefix);
  // Only to look up the state of a job ahead in a chat's order; shares the worker's connection.
  const states = new Queue(outboundQueue(platform).name, { connection: opts.connection, prefix: opts.prefix });
  states.on('error', (err) => log.warn({ err }, 'outbound order: queue lookup error'));
  const order = new ChatOrder({
    redis: opts.connection,
    queue: states,
    logger: log,
    maxWaitMs: opts.maxOrderWaitMs ?? 60_000,
    pollMs: opts.orderPollMs ?? 200,
    graceMs: opts.orderGraceMs ?? 10_000,
  });
  const orderKey = (data: OutboundJob) => {
    const chat = 'reply' in data ? data.reply : data.approval;
    return keys.outboundOrder(platform, chat.chatId, chat.threadId);
  };

  const maxJobsPerChat = opts.maxJobsPerChat ?? 3;
  const chatDeferStepMs = opts.chatDeferStepMs ?? 1000;
  // A reply taken while one before it is still put back waits for it in `order.turn`: shorter than
  // the wait's bound, so it never gives up on a reply that is merely put back.
  const maxDeferMs = Math.min(30_000, Math.floor((opts.maxOrderWaitMs ?? 60_000) / 2));
  /**
   * How long a job must go back to the queue before it is taken again: 0 (take it) while it is
   * among its chat's first `maxJobsPerChat` in order. A job with no entry in the order index (an
   * older producer's) is always taken: only the order in which this process takes such jobs keeps
   * them in order.
   */
  async function deferral(key: string, jobId: string): Promise<number> {
    const place = await opts.connection.zrank(key, jobId);
    if (place === null || place === 0) return 0;
    if (place >= maxJobsPerChat) {
      // Entries ahead whose jobs are finished or gone (a reply delivered again after it was sent,
      // a consumer or producer that died midway) would hold the chat's later replies back for as
      // long as the index lives: no job waits on them in `order.turn` to clear them. So they are
      // cleared here, by the same rules.
      const cleared = await order.clearFinished(key, maxJobsPerChat);
      if (place - cleared < maxJobsPerChat) return 0;
      return Math.min(maxDeferMs, chatDeferStepMs * (place - cleared - maxJobsPerChat + 1));
    }
    // Taken behind earlier replies: any of them still put back (the chat's order moved on without
    // a send here, say) comes forward now rather than at the end of its delay.
    await bringForward(key);
    return 0;
  }
  /**
   * After a send: the chat's next replies in order that are put back come forward now (not one
   * waiting out a retry's backoff after a failed send: that wait is the platform's). Best effort.
   */
  async function bringForward(key: string): Promise<void> {
    try {
      for (const id of await opts.connection.zrange(key, '0', String(maxJobsPerChat - 1))) {
        const next = await states.getJob(id);
        if (next && !next.failedReason && (await next.isDelayed())) await next.promote().catch(() => undefined);
      }
    } catch (err) {
      log.debug({ err }, 'could not bring a chat’s next reply forward');
    }
  }

  let freePermits = opts.concurrency;
  const permitQueue: Array<() => void> = [];
  /** Runs a call to the platform once fewer than `concurrency` are under way (first come, first served). */
  async function withSendPermit<T>(call: () => Promise<T>): Promise<T> {
    if (freePermits > 0) freePermits -= 1;
    else await new Promise<void>((resolve) => permitQueue.push(resolve));
    try {
      return await call();
    } finally {
      // Handed straight to the next in line, so a newcomer cannot take it first.
      const next = permitQueue.shift();
      if (next) next();
      else freePermits += 1;
    }
  }

  let prunedAt = 0;
  /**
   * Notes a call to a chat. Chats called longer than the interval ago are forgotten now and then:
   * their pace no longer holds anything back, and a bot in many chats (Slack threads) would
   * otherwise keep an entry for every one it ever wrote to.
   */
  function sentTo(chatKey: string): void {
    const now = Date.now();
    lastSentAt.set(chatKey, now);
    if (lastSentAt.size < 256 || now - prunedAt < Math.max(1000, opts.chatIntervalMs)) return;
    prunedAt = now;
    for (const [key, at] of lastSentAt) if (now - at >= opts.chatIntervalMs) lastSentAt.delete(key);
  }

  /**
   * Paces one call to the platform (per chat and overall) and waits out rate limits. `outcome`
   * labels the call in the sends metric once it returns (a function: by what it returned).
   */
  async function paced<T>(chatKey: string, job: Job, call: () => Promise<T>, outcome: 'sent' | 'edited' | ((result: T) => 'edited' | 'uneditable')): Promise<T> {
    let waits = 0;
    let retries = 0;
    for (;;) {
      // The chat's own pace first, then a global slot: a chat waiting for its next part must not
      // reserve the global slots other chats would take meanwhile.
      const chatSlot = (lastSentAt.get(chatKey) ?? 0) + opts.chatIntervalMs;
      if (chatSlot > Date.now()) await sleep(chatSlot - Date.now());
      try {
        // The permit covers the global slot and the call only: the waits below (Retry-After,
        // backoff) are this chat's own and must not keep other chats from the platform.
        const result = await withSendPermit(async () => {
          const now = Date.now();
          const slot = Math.max(now, nextGlobalSlot);
          nextGlobalSlot = slot + globalGapMs;
          if (slot > now) await sleep(slot - now);
          return call();
        });
        sentTo(chatKey);
        metrics.sends.inc({ platform, outcome: typeof outcome === 'function' ? outcome(result) : outcome });
        return result;
      } catch (err) {
        sentTo(chatKey);
        const failure = sender.classify(err);
        if (failure.kind === 'rate_limited' && waits < max429Waits) {
          waits += 1;
          metrics.sends.inc({ platform, outcome: 'rate_limited' });
          log.warn({ jobId: job.id, retryAfterMs: failure.retryAfterMs }, `${platform} rate limit; waiting before sending again`);
          await sleep(Math.max(1, failure.retryAfterMs));
          continue;
        }
        if (failure.kind === 'permanent') {
          log.error({ jobId: job.id, reason: failure.reason }, `${platform} refused the message; not retrying`);
          throw new UnrecoverableError(`${platform} refused: ${failure.reason}`);
        }
        if (failure.kind === 'transient' && retries < maxTransientRetries) {
          // Retried here rather than by BullMQ: a job back in the queue holds the chat's next reply
          // back for its whole backoff (up to maxOrderWaitMs), and past that lets it go first.
          const delayMs = transientRetryMs * 2 ** retries;
          retries += 1;
          log.warn({ jobId: job.id, reason: failure.reason, delayMs }, `${platform} send failed; trying again`);
          await sleep(delayMs);
          continue;
        }
        log.warn({ jobId: job.id, reason: failure.kind === 'transient' ? failure.reason : 'rate limited too often' }, `${platform} send failed; the job will retry`);
        throw err instanceof Error ? err : new Error(String(err));
      }
    }
  }

  async function sendReply(reply: OutboundReply, job: Job): Promise<{ parts: number }> {
    const target: ChatTarget = { account: reply.account, chatId: reply.chatId, threadId: reply.threadId };
    const chatKey = `${reply.chatId}:${reply.threadId ?? ''}`;
    const parts = sender.render(reply.text);
    const done = typeof job.progress === 'number' ? job.progress : 0;
    for (let i = done; i < parts.length; i++) {
      const part = parts[i]!;
      let draft: string | undefined;
      /** The draft that could not be edited into this part. */
      let leftover: string | undefined;
      if (i === 0 && opts.drafts && sender.edit) {
        await opts.drafts.finish(reply.turnId);
        await opts.drafts.waitForEdits(reply.turnId);
        draft = await opts.drafts.get(reply.turnId);
        // A streamer is creating the draft right now: wait briefly for its id rather than post twice.
        for (let w = 0; draft === '' && w < 20; w++) {
          await sleep(100);
          draft = await opts.drafts.get(reply.turnId);
        }
        // Still no id (a post slower than a minute, or a streamer that died posting): the reply goes
        // out on its own, and a draft that turns up later is not adopted.
        if (draft === '' && !(await opts.drafts.abandon(reply.turnId))) draft = await opts.drafts.get(reply.turnId);
      }
      if (draft) {
        const edit = sender.edit!.bind(sender);
        const id = draft;
        const edited = await paced(
          chatKey,
          job,
          async () => {
            try {
              await edit(target, id, part);
              return true;
            } catch (err) {
              if (!sender.uneditable?.(err)) throw err;
              log.warn({ jobId: job.id, turnId: reply.turnId, err }, 'could not edit the draft (deleted, or too old); sending the reply as a new message');
              return false;
            }
          },
          (ok) => (ok ? 'edited' : 'uneditable'),
        );
        if (!edited) {
          draft = undefined;
          leftover = id;
        }
      }
      if (!draft) {
        await paced(chatKey, job, () => sender.send(target, part, { index: i, replyTo: i === 0 ? reply.inReplyTo : [], key: `${reply.id}-${i}` }), 'sent');
      }
      if (leftover && sender.remove) {
        // A draft that still exists but can no longer be edited (too old) would stay above the
        // reply, half-written; one the user deleted is simply not found. Best effort either way.
        await withSendPermit(() => sender.remove!(target, leftover)).catch((err: unknown) => log.debug({ jobId: job.id, err }, 'could not delete the uneditable draft'));
      }
      await job.updateProgress(i + 1);
    }
    await opts.drafts?.delivered(reply.turnId);
    return { parts: parts.length };
  }

  const worker = new Worker(
    outboundQueue(platform).name,
    async (job: Job, token?: string) => {
      const parsed = OutboundJob.safeParse(job.data);
      if (!parsed.success) {
        log.error({ jobId: job.id, issues: parsed.error.issues }, 'invalid outbound job; failing it for good');
        throw new UnrecoverableError(`invalid outbound job: ${parsed.error.message}`);
      }
      const data = parsed.data;
      const chatId = 'reply' in data ? data.reply.chatId : data.approval.chatId;
      const threadId = 'reply' in data ? data.reply.threadId : data.approval.threadId;
      const jobId = job.id!;
      const key = orderKey(data);
      const deferMs = await deferral(key, jobId);
      if (deferMs > 0) {
        // Back to the queue with its place in the chat's order and its attempts kept.
        await job.moveToDelayed(Date.now() + deferMs, token);
        throw new DelayedError();
      }
      // The chain alone would keep the order of the jobs this process took, but not against another
      // replica's or a retried job's; and it must not hold a job whose turn has come behind one
      // that waits for it (a retried reply taken again after the next one), so the wait comes first.
      if ((await order.turn(key, jobId)) === 'closing') {
        // Back to the queue with its place and attempts kept, so the close need not wait for its turn.
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      const result = await chats.run(`${chatId}:${threadId ?? ''}`, async () => {
        if ('reply' in data) return sendReply(data.reply, job);
        const n = data.approval;
        const target: ChatTarget = { account: n.account, chatId: n.chatId, threadId: n.threadId };
        await paced(`${n.chatId}:${n.threadId ?? ''}`, job, () => sender.sendApproval(target, n), 'sent');
        return { approval: n.id };
      });
      await order.done(key, jobId);
      await bringForward(key);
      return result;
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency + (opts.maxWaitingJobs ?? 3 * opts.concurrency),
      limiter: { max: opts.globalRatePerSecond, duration: 1000 },
    },
  );
  worker.on('failed', (job, err) => {
    if (job && (err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1))) {
      metrics.sends.inc({ platform, outcome: 'failed' });
      // A reply that failed for good must not hold back the drafts of later turns (see ReplyStreamer).
      const turnId = (job.data as { reply?: { turnId?: unknown } }).reply?.turnId;
      if (typeof turnId === 'string') void opts.drafts?.delivered(turnId).catch(() => undefined);
      // Nor the chat's later replies (an invalid job's entry is cleared by the next reply's wait).
      const parsed = OutboundJob.safeParse(job.data);
      if (parsed.success && job.id) {
        const key = orderKey(parsed.data);
        void order.done(key, job.id).then(() => bringForward(key));
      }
    }
  });
  worker.on('closing', () => order.close());
  worker.on('closed', () => void states.close().catch((err: unknown) => log.debug({ err }, 'could not close the outbound order lookups')));
  worker.on('error', (err) => log.error({ err }, 'outbound worker error'));
  return worker;
}
