import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { LuaScript } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';

/** How an outbound job's wait for its turn in its chat ended. */
export type OrderTurn =
  /** Every job enqueued to the chat before it is done: it is the head of the chat's index. */
  | 'first'
  /** The job has no entry in the index (an older producer enqueued it, or a late job was overtaken). */
  | 'unindexed'
  /** It waited `maxWaitMs` for an earlier job; it goes anyway, and the jobs ahead lose their place. */
  | 'overdue'
  /** The worker is closing: the job goes back to the queue, keeping its place, for another replica. */
  | 'closing';

export interface ChatOrderOptions {
  /** Where the order indexes are (the outbound worker's connection). */
  redis: Redis;
  /** The outbound queue, to look up the state of the job ahead. */
  queue: Queue;
  logger: Logger;
  /** Longest wait for the jobs ahead, in ms. */
  maxWaitMs: number;
  /** How often a chat's index is read while a job of this process waits on a job of another one, in ms. */
  pollMs: number;
  /**
   * How long an entry whose job does not exist is still waited for, in ms: the producer notes the
   * job before it adds it, and a job removed since (a crashed consumer never took it out) is dead.
   */
  graceMs: number;
}

interface Waiter {
  jobId: string;
  since: number;
  settle(turn: OrderTurn): void;
}

interface Chat {
  waiters: Set<Waiter>;
  /** Set by a wake-up that came while the chat's index was being read: read it again at once. */
  woken: boolean;
  sleeper?: (() => void) | undefined;
}

/**
 * Reads a chat's index for the jobs of this process waiting on it.
 * KEYS: the index. ARGV: the waiting job ids.
 * Returns {} when the index is empty, else {head job id, its score (ms), Redis time (ms), then for
 * each ARGV 1 if it is in the index, 0 if not}.
 */
const LOOK = new LuaScript(`
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head == 0 then return {} end
local t = redis.call('TIME')
local out = {head[1], head[2], tostring(t[1] * 1000 + math.floor(t[2] / 1000))}
for i = 1, #ARGV do out[#out + 1] = redis.call('ZSCORE', KEYS[1], ARGV[i]) and 1 or 0 end
return out`);

/**
 * Removes the entries ahead of a job, which it stopped waiting for.
 * KEYS: the index. ARGV: job id. Returns the first few removed job ids (for the log).
 */
const DROP_AHEAD = new LuaScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return {} end
local ahead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. s, 'LIMIT', 0, 5)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. s)
return ahead`);

/** Removes an entry if it still has the score it was seen with. KEYS: the index. ARGV: job id, score. */
const REMOVE_IF_SCORE = new LuaScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0`);

/**
 * One process's view of its chats' order indexes (`LaneKeys.outboundOrder`, kept by the producer):
 * a chat's job may send once it is the index's head, whichever replica holds the jobs ahead.
 *
 * One reader per chat serves all of this process's jobs waiting on that chat: one index read per
 * poll, and a job done here wakes the next one at once (another replica's, within `pollMs`).
 * Heads whose job is finished (completed, failed for good, or gone past the grace period) are
 * removed by whoever waits on them, so a consumer that crashed after sending blocks nobody.
 */
export class ChatOrder {
  private readonly opts: ChatOrderOptions;
  private readonly chats = new Map<string, Chat>();
  private closing = false;

  constructor(opts: ChatOrderOptions) {
    this.opts = opts;
  }

  /** Waits until job `jobId` may send to the chat whose index is `key`. Holds nothing meanwhile. */
  turn(key: string, jobId: string): Promise<OrderTurn> {
    if (this.closing) return Promise.resolve('closing');
    return new Promise((settle) => {
      const waiter: Waiter = { jobId, since: Date.now(), settle };
      const chat = this.chats.get(key);
      if (chat) {
        chat.waiters.add(waiter);
        this.wake(chat);
        return;
      }
      const fresh: Chat = { waiters: new Set([waiter]), woken: false };
      this.chats.set(key, fresh);
      void this.watch(key, fresh);
    });
  }

  /**
   * Takes the first `count` entries of a chat's index out where their jobs are finished (completed,
   * failed for good) or gone past the grace period, by the rules a waiting job applies to its head.
   * Returns how many it took out.
   */
  async clearFinished(key: string, count: number): Promise<number> {
    const { redis, queue } = this.opts;
    const ids = await redis.zrange(key, '0', String(count - 1));
    if (ids.length === 0) return 0;
    // Scores first, then states (as a waiting reply reads its head): an entry removed and noted
    // again in between then fails the score check instead of being judged by a stale state.
    const [[seconds, micros], scores] = await Promise.all([redis.time(), Promise.all(ids.map((id) => redis.zscore(key, id)))]);
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    let removed = 0;
    for (const [i, id] of ids.entries()) {
      const score = scores[i];
      if (score === null || score === undefined) continue;
      const ageMs = nowMs - Number(score);
      if (this.finished(states[i]!, ageMs) && (await this.removeSeen(key, id, score, states[i]!, ageMs))) removed += 1;
    }
    return removed;
  }

  /**
   * Whether an entry whose job is in `state`, noted `ageMs` ago, holds nothing back any more: its
   * job was sent or failed for good (a consumer that died before taking it out, or a reply enqueued
   * again after it was sent), or is missing past the grace period.
   */
  private finished(state: string, ageMs: number): boolean {
    return state === 'completed' || state === 'failed' || (state === 'unknown' && ageMs >= this.opts.graceMs);
  }

  /** Takes a finished entry out of a chat's index if it still has the score it was seen with. True when it did. */
  private async removeSeen(key: string, jobId: string, score: string, state: string, ageMs: number): Promise<boolean> {
    const removed = (await REMOVE_IF_SCORE.run(this.opts.redis, [key], [jobId, score])) === 1;
    if (removed) this.opts.logger.info({ jobId, state, ageMs }, 'removed a finished job from its chat’s outbound order');
    return removed;
  }

  /** Takes a finished job (sent, or failed for good) out of its chat's index. Best effort. */
  async done(key: string, jobId: string): Promise<void> {
    await this.opts.redis.zrem(key, jobId).catch((err: unknown) => this.opts.logger.warn({ jobId, err }, 'could not take a sent reply out of its chat order; the next reply will clear it'));
    const chat = this.chats.get(key);
    if (chat) this.wake(chat);
  }

  /** Ends every wait with 'closing' (the worker is shutting down), and any later one at once. */
  close(): void {
    this.closing = true;
    for (const chat of this.chats.values()) {
      for (const w of chat.waiters) this.release(chat, w, 'closing');
      this.wake(chat);
    }
  }

  private release(chat: Chat, waiter: Waiter, turn: OrderTurn): void {
    chat.waiters.delete(waiter);
    waiter.settle(turn);
  }

  private wake(chat: Chat): void {
    chat.woken = true;
    chat.sleeper?.();
  }

  private async watch(key: string, chat: Chat): Promise<void> {
    let failing = false;
    while (chat.waiters.size > 0) {
      chat.woken = false;
      let again = false;
      try {
        again = await this.step(key, chat);
        failing = false;
      } catch (err) {
        // Redis trouble: the waits still end at their bound (see step), so nothing waits forever.
        if (!failing) this.opts.logger.warn({ err }, 'could not read a chat’s outbound order; trying again');
        failing = true;
      }
      if (!again && chat.waiters.size > 0) await this.pause(chat);
    }
    // Nothing awaited since the loop's test: a job that came meanwhile found this reader.
    this.chats.delete(key);
  }

  /** One look at the chat's index. True when it is worth looking again at once. */
  private async step(key: string, chat: Chat): Promise<boolean> {
    const { redis, logger, maxWaitMs } = this.opts;
    const now = Date.now();
    const overdue = [...chat.waiters].filter((w) => now - w.since >= maxWaitMs);
    for (const w of overdue) {
      const ahead = (await DROP_AHEAD.run(redis, [key], [w.jobId]).catch(() => [])) as string[];
      logger.warn({ jobId: w.jobId, waitedMs: now - w.since, ahead }, 'an earlier reply to the chat is still not sent; sending this one anyway');
      this.release(chat, w, 'overdue');
    }
    const waiting = [...chat.waiters];
    if (waiting.length === 0) return false;
    const seen = (await LOOK.run(redis, [key], waiting.map((w) => w.jobId))) as Array<string | number>;
    if (seen.length === 0) {
      for (const w of waiting) this.release(chat, w, 'unindexed');
      return false;
    }
    const [head, score, redisNow] = [String(seen[0]), String(seen[1]), Number(seen[2])];
    let local = false;
    waiting.forEach((w, i) => {
      if (w.jobId === head && !local) {
        local = true;
        this.release(chat, w, 'first');
      } else if (seen[3 + i] === 0) this.release(chat, w, 'unindexed');
    });
    // The head is this process's (now sending): its done() wakes the rest.
    if (local || chat.waiters.size === 0) return false;
    const state = await this.opts.queue.getJobState(head);
    const ageMs = redisNow - Number(score);
    if (!this.finished(state, ageMs)) return false;
    await this.removeSeen(key, head, score, state, ageMs);
    return true;
  }

  /** Sleeps until the next poll, the nearest wait's bound, or a wake-up. */
  private pause(chat: Chat): Promise<void> {
    if (chat.woken) return Promise.resolve();
    let nearest = Infinity;
    for (const w of chat.waiters) nearest = Math.min(nearest, w.since + this.opts.maxWaitMs);
    const ms = Math.max(1, Math.min(this.opts.pollMs, nearest - Date.now()));
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        chat.sleeper = undefined;
        resolve();
      }
      chat.sleeper = done;
    });
  }
}
