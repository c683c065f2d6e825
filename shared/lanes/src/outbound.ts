import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { OutboundJob, outboundQueue, OutboundReply } from '@switchboard/contracts';
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

  /** `queuedPlatforms`: platforms that consume an `outbound-<platform>` queue (not the web, which reads the stream). */
  constructor(opts: { store: LaneStore; connection: Redis; prefix: string; queuedPlatforms: Iterable<string>; registry: Registry }) {
    this.store = opts.store;
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
    if (this.queuedPlatforms.has(parsed.platform)) {
      const contract = outboundQueue(parsed.platform);
      let queue = this.queues.get(parsed.platform);
      if (!queue) {
        queue = new Queue(contract.name, { connection: this.connection, prefix: this.prefix });
        this.queues.set(parsed.platform, queue);
      }
      const d = contract.defaults;
      await queue.add('reply', OutboundJob.parse({ v: 1, reply: parsed }), {
        jobId: parsed.id,
        attempts: d.attempts,
        backoff: { type: 'exponential', delay: d.backoffMs },
        removeOnComplete: { age: d.removeOnCompleteAgeSeconds },
        removeOnFail: { age: d.removeOnFailAgeSeconds },
      });
    }
    this.metrics.replies.inc({ platform: parsed.platform, outcome: 'sent' });
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
