import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { ApprovalNotice, OutboundJob, outboundQueue, OutboundReply } from '@switchboard/contracts';
import type { LaneStore } from './lane-store.ts';
import { laneMetrics, type LaneMetrics } from './metrics.ts';

/**
 * Delivers final replies: always to the session's event stream (SSE, console, any web replica),
 * and to the platform's outbound queue for platforms whose service sends replies itself. Both
 * steps are idempotent on the reply id, so a resumed turn re-delivering its reply sends nothing new.
 */
export class ReplyPublisher {
  private readonly queues = new Map<string, Queue>();
  private readonly store: LaneStore;
  private readonly connection: Redis;
  private readonly prefix: string;
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
    this.queuedPlatforms = new Set(opts.queuedPlatforms);
    this.metrics = laneMetrics(opts.registry);
  }

  async deliver(reply: OutboundReply): Promise<void> {
    const parsed = OutboundReply.parse(reply);
    await this.store.appendEvent(
      parsed.sessionKey,
      { type: 'reply', turnId: parsed.turnId, replyId: parsed.id, text: parsed.text, inReplyTo: parsed.inReplyTo },
      parsed.id,
    );
    await this.enqueue(parsed.platform, 'reply', { v: 1, reply: parsed }, parsed.id);
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
    await this.enqueue(parsed.platform, 'approval', { v: 1, approval: parsed }, `ap-${parsed.id}`, Math.ceil(this.approvalTimeoutMs / 1000) + 60);
  }

  private async enqueue(platform: string, name: string, data: OutboundJob, jobId: string, keepSeconds = 0): Promise<void> {
    if (!this.queuedPlatforms.has(platform)) return;
    const contract = outboundQueue(platform);
    let queue = this.queues.get(platform);
    if (!queue) {
      queue = new Queue(contract.name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(platform, queue);
    }
    const d = contract.defaults;
    await queue.add(name, OutboundJob.parse(data), {
      jobId,
      attempts: d.attempts,
      backoff: { type: 'exponential', delay: d.backoffMs },
      removeOnComplete: { age: Math.max(d.removeOnCompleteAgeSeconds, keepSeconds) },
      removeOnFail: { age: d.removeOnFailAgeSeconds },
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
