import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { ApprovalNotice, OutboundJob, outboundQueue, OutboundReply } from '@switchboard/contracts';
import { laneKeys, type LaneKeys } from './keys.ts';
import { DEFAULT_EVENTS_TTL_SECONDS, type LaneStore } from './lane-store.ts';
import { LuaScript } from './lua.ts';
import { laneMetrics, type LaneMetrics } from './metrics.ts';

/** How long a chat's outbound order index outlives its last enqueue (abandoned ones vanish). */
const ORDER_TTL_SECONDS = 24 * 3600;

/**
 * Notes an outbound job last in its chat's order index, unless it is there already (the same reply
 * or approval enqueued again keeps its place). Scored by the Redis clock in ms (one clock for every
 * agent worker, whose own clocks may drift apart by more than two replies to a chat), and above the
 * last entry's score, so two jobs noted within one millisecond keep their order too.
 * KEYS: order index, enqueued marker (see LaneKeys.outboundEnqueued). ARGV: job id, ttl seconds.
 * Returns 1 if added, 0 if it was there, -1 if the job was queued already (nothing to do).
 */
const indexOutbound = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local added = 0
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  local score = t[1] * 1000 + math.floor(t[2] / 1000)
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last > 0 and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
  added = redis.call('ZADD', KEYS[1], score, ARGV[1])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return added
`);

/**
 * Delivers final replies: always to the session's event stream (SSE, console, any web replica),
 * and to the platform's outbound queue for platforms whose service sends replies itself. Both
 * steps are idempotent on the reply id, so a resumed turn re-delivering its reply sends nothing new.
 *
 * Each queued job is first noted in its chat's order index (`LaneKeys.outboundOrder`), which every
 * channel replica's outbound worker follows: a chat's reply is sent once those enqueued before it
 * are done, whichever replica took them (see createChannelOutboundWorker).
 */
export class ReplyPublisher {
  private readonly queues = new Map<string, Queue>();
  private readonly store: LaneStore;
  private readonly connection: Redis;
  private readonly prefix: string;
  private readonly keys: LaneKeys;
  private readonly queuedPlatforms: ReadonlySet<string>;
  private readonly metrics: LaneMetrics;
  private readonly approvalTimeoutMs: number;

  /**
   * `queuedPlatforms`: platforms that consume an `outbound-<platform>` queue (not the web, which
   * reads the stream). `approvalTimeoutMs`: how long an approval may stay pending (see
   * announceApproval).
   */
  constructor(opts: { store: LaneStore; connection: Redis; prefix: string; queuedPlatforms: Iterable<string>; registry: Registry; approvalTimeoutMs?: number }) {
    this.store = opts.store;
    this.approvalTimeoutMs = opts.approvalTimeoutMs ?? 0;
    this.connection = opts.connection;
    this.prefix = opts.prefix;
    this.keys = laneKeys(opts.prefix);
    this.queuedPlatforms = new Set(opts.queuedPlatforms);
    this.metrics = laneMetrics(opts.registry);
  }

  async deliver(reply: OutboundReply): Promise<void> {
    const parsed = OutboundReply.parse(reply);
    await this.store.appendEvent(
      parsed.sessionKey,
      { type: 'reply', turnId: parsed.turnId, replyId: parsed.id, text: parsed.text, inReplyTo: parsed.inReplyTo, ...(parsed.usage ? { usage: parsed.usage } : {}) },
      parsed.id,
    );
    await this.enqueue(parsed, 'reply', { v: 1, reply: parsed }, parsed.id);
    this.metrics.replies.inc({ platform: parsed.platform, outcome: 'sent' });
  }

  /**
   * Asks the session's channel to show an approval request as buttons (platforms with an outbound
   * queue; the web shows the `approval_request` event itself). Idempotent on the approval id for as
   * long as the approval can be pending: its parked turn runs again (the lane sweep) and announces
   * again, and the job id dedupes that only while the finished job is kept, so it is kept at least
   * that long (with an approval timeout above the queue's hour, a second prompt went out hourly).
   */
  async announceApproval(notice: ApprovalNotice): Promise<void> {
    const parsed = ApprovalNotice.parse(notice);
    await this.enqueue(parsed, 'approval', { v: 1, approval: parsed }, `ap-${parsed.id}`, Math.ceil(this.approvalTimeoutMs / 1000) + 60);
  }

  private async enqueue(
    chat: { platform: string; chatId: string; threadId?: string | undefined },
    name: string,
    data: OutboundJob,
    jobId: string,
    keepSeconds = 0,
  ): Promise<void> {
    const { platform } = chat;
    if (!this.queuedPlatforms.has(platform)) return;
    const contract = outboundQueue(platform);
    let queue = this.queues.get(platform);
    if (!queue) {
      queue = new Queue(contract.name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(platform, queue);
    }
    const d = contract.defaults;
    const job = OutboundJob.parse(data);
    // Noted before the job exists, so no replica can take it before its place is known. The
    // consumers give a missing job's entry a grace period for the add below to land.
    const orderKey = this.keys.outboundOrder(platform, chat.chatId, chat.threadId);
    // Queued once for as long as the reply can be delivered again (its turn resumed unacknowledged;
    // the reply's event is deduplicated as long): the job id deduplicates only while the finished
    // job is kept (an hour), and a turn resumed after that (every worker down meanwhile) sent the
    // reply to the platform a second time.
    const enqueuedKey = this.keys.outboundEnqueued(platform, jobId);
    const noted = (await indexOutbound.run(this.connection, [orderKey, enqueuedKey], [jobId, ORDER_TTL_SECONDS])) as number;
    if (noted === -1) return;
    const indexed = noted === 1;
    try {
      await queue.add(name, job, {
        jobId,
        attempts: d.attempts,
        backoff: { type: 'exponential', delay: d.backoffMs },
        removeOnComplete: { age: Math.max(d.removeOnCompleteAgeSeconds, keepSeconds) },
        removeOnFail: { age: d.removeOnFailAgeSeconds },
      });
    } catch (err) {
      // An entry without a job would cost the chat's next reply the consumers' grace period (after
      // which they drop it), so failing to remove it is no worse: the add's error is the one to report.
      if (indexed) await this.connection.zrem(orderKey, jobId).catch(() => undefined);
      throw err;
    }
    await this.connection.set(enqueuedKey, '1', 'EX', Math.max(DEFAULT_EVENTS_TTL_SECONDS, keepSeconds));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
