import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface JournalEntry {
  id: string;
  body: string;
}

/**
 * Verified webhook bodies, written to Redis before the 200 goes back to Meta and removed once
 * handled. The webhook acknowledges at once and handles the body afterwards; if this replica dies
 * (or its handling fails) in between, another replica's sweep finds the entry after `staleMs` and
 * handles it again, which is safe because every message is deduplicated by its wamid. A replica
 * handling an entry touches it while it works (a media download can outlast `staleMs`), so only
 * an entry whose replica stopped goes stale.
 */
export class WebhookJournal {
  private readonly redis: Redis;
  private readonly index: string;
  private readonly data: string;
  private readonly attempts: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    const base = `${prefix}:ch:whatsapp:journal`;
    this.index = base;
    this.data = `${base}:data`;
    this.attempts = `${base}:attempts`;
  }

  /** Records a body; resolves once it is in Redis (then it may be acknowledged). */
  async add(body: string): Promise<JournalEntry> {
    const id = randomUUID();
    await this.redis.multi().hset(this.data, id, body).zadd(this.index, Date.now(), id).exec().then(throwOnError);
    return { id, body };
  }

  /** Forgets a handled entry. */
  async done(id: string): Promise<void> {
    await this.redis.multi().zrem(this.index, id).hdel(this.data, id).hdel(this.attempts, id).exec().then(throwOnError);
  }

  /** Marks `id` as being handled now, so sweeps leave it alone for another `staleMs` (it must still be there). */
  async touch(id: string): Promise<void> {
    await this.redis.zadd(this.index, 'XX', 'GT', Date.now(), id);
  }

  /** Counts one more handling attempt of `id`; returns the count. */
  async attempt(id: string): Promise<number> {
    return this.redis.hincrby(this.attempts, id, 1);
  }

  /**
   * Entries older than `staleMs`, claimed for this replica by moving their timestamp to now (a
   * concurrent sweeper may claim the same one; handling is idempotent).
   */
  async claimStale(staleMs: number, limit = 50): Promise<JournalEntry[]> {
    const now = Date.now();
    const ids = await this.redis.zrangebyscore(this.index, '-inf', now - staleMs, 'LIMIT', 0, limit);
    const out: JournalEntry[] = [];
    for (const id of ids) {
      if ((await this.redis.zadd(this.index, 'XX', 'GT', 'CH', now, id)) !== 1) continue;
      const body = await this.redis.hget(this.data, id);
      if (body === null) await this.redis.zrem(this.index, id);
      else out.push({ id, body });
    }
    return out;
  }

  /** How many entries wait to be handled (a gauge for operators). */
  size(): Promise<number> {
    return this.redis.zcard(this.index);
  }
}

function throwOnError(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('redis transaction aborted');
  for (const [err] of results) if (err) throw err;
}
