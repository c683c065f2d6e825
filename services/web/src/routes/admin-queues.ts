import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { TOOL_QUEUE, TURN_QUEUE } from '@switchboard/contracts';

/** Job counts of one BullMQ queue, by state. */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  completed: number;
}

export interface QueueSummary {
  name: string;
  counts: QueueCounts;
}

/** A failed job as the console shows it: no payload (it may carry users' messages). */
export interface FailedJob {
  id: string;
  name: string;
  failedReason: string;
  attemptsMade: number;
  /** When the job was created and when it last failed, epoch ms. */
  createdAtMs: number;
  failedAtMs: number | undefined;
}

export type RetryResult = { ok: true } | { ok: false; code: 'not_found' | 'not_failed' | 'not_retryable'; message: string };

const QUEUE_NAME = /^[A-Za-z0-9._-]{1,100}$/;
/** Longest failure reason returned, in characters (stack traces and error texts can be long). */
const REASON_MAX_CHARS = 500;
/** Upper bound on SCAN round trips when discovering queues, so a huge keyspace cannot stall a request. */
const MAX_SCAN_ROUNDS = 200;

/**
 * Read-mostly view of the deployment's BullMQ queues for the operator console: depth by state,
 * the newest failed jobs, and retrying one. Queues are discovered from BullMQ's `meta` hashes
 * under the prefix, so queues added by other services (outbound per platform, schedules,
 * heartbeats, ...) show up without a list to maintain here.
 */
export class QueueInspector {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly queues = new Map<string, Queue>();

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  /** Whether `name` is a queue name this inspector accepts (BullMQ names carry no `:`). */
  static isQueueName(name: string): boolean {
    return QUEUE_NAME.test(name);
  }

  /** Names of the BullMQ queues under the prefix, sorted; the turn and tool queues always. */
  async names(): Promise<string[]> {
    const found = new Set<string>([TURN_QUEUE.name, TOOL_QUEUE.name]);
    const head = `${this.prefix}:`;
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${head}*:meta`, 'COUNT', 1000);
      for (const key of keys) {
        const name = key.slice(head.length, -':meta'.length);
        if (QueueInspector.isQueueName(name)) found.add(name);
      }
      cursor = next;
      if (cursor === '0') break;
    }
    return [...found].sort();
  }

  async summaries(): Promise<QueueSummary[]> {
    const names = await this.names();
    return Promise.all(names.map(async (name) => ({ name, counts: await this.counts(name) })));
  }

  async counts(name: string): Promise<QueueCounts> {
    const c = await this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      prioritized: c.prioritized ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  /** The newest `limit` failed jobs of a queue, newest first. */
  async failed(name: string, limit: number): Promise<FailedJob[]> {
    const jobs = await this.queue(name).getFailed(0, limit - 1);
    return jobs
      .filter((j) => j !== undefined && j.id !== undefined)
      .map((j) => ({
        id: j.id!,
        name: j.name,
        failedReason: (j.failedReason ?? '').slice(0, REASON_MAX_CHARS),
        attemptsMade: j.attemptsMade,
        createdAtMs: j.timestamp,
        failedAtMs: j.finishedOn,
      }));
  }

  /**
   * Moves one failed job back to waiting. Tool runs are refused: the queue never retries them
   * because a side effect must not happen twice, and the turn that waited for it has already
   * shown the failure to the model.
   */
  async retry(name: string, jobId: string): Promise<RetryResult> {
    if (name === TOOL_QUEUE.name) return { ok: false, code: 'not_retryable', message: 'tool runs are never retried: the side effect must not happen twice' };
    const job = await this.queue(name).getJob(jobId);
    if (!job) return { ok: false, code: 'not_found', message: 'no such job' };
    const state = await job.getState();
    if (state !== 'failed') return { ok: false, code: 'not_failed', message: `the job is ${state}, not failed` };
    try {
      await job.retry('failed');
    } catch (err) {
      // Lost a race with another retry (or the job was removed in between): it is no longer failed.
      return { ok: false, code: 'not_failed', message: `the job could not be retried: ${(err as Error).message}` };
    }
    return { ok: true };
  }

  async close(): Promise<void> {
    // The queues share the web service's connection, which its owner closes.
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
  }
}
