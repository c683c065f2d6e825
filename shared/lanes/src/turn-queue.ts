import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { TURN_QUEUE, TurnJob } from '@switchboard/contracts';

/**
 * Producer side of the turn queue: at most one active and one waiting turn job per session, by
 * BullMQ deduplication on the session key with `keepLastIfActive` (a request made while the
 * session's turn runs re-creates the job when that turn finishes).
 */
export class TurnQueue {
  readonly queue: Queue;
  /** The connection the queue sends its commands on (BullMQ uses a given connection as it is). */
  readonly connection: Redis;

  constructor(connection: Redis, prefix: string) {
    this.connection = connection;
    this.queue = new Queue(TURN_QUEUE.name, { connection, prefix });
  }

  async request(sessionKey: string): Promise<void> {
    const data = TurnJob.parse({ v: 1, sessionKey });
    const d = TURN_QUEUE.defaults;
    await this.queue.add('turn', data, {
      deduplication: { id: sessionKey, keepLastIfActive: true },
      attempts: d.attempts,
      backoff: { type: 'exponential', delay: d.backoffMs },
      removeOnComplete: { age: d.removeOnCompleteAgeSeconds, count: 10_000 },
      removeOnFail: { age: d.removeOnFailAgeSeconds },
    });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
