import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ScopeRef } from './types.ts';

/**
 * Change marks of memory scopes, shared by every process that writes memories. A write gives the
 * scopes it wrote a new mark once it has committed; a reader that saw a scope set hold no memory
 * trusts that answer while the marks it read before asking are unchanged (see
 * `MARKED_EMPTY_SCOPES_TTL_MS` in memory-store.ts for how long at most).
 */
export interface ScopeMarks {
  /** The current mark of each scope, in order (`''` for a scope without one). */
  read(scopes: readonly ScopeRef[]): Promise<string[]>;
  /** Gives each scope a new mark, never one it had before. */
  mark(scopes: readonly ScopeRef[]): Promise<void>;
}

/** How long a mark is kept after the scope's last write. */
const MARK_TTL_SECONDS = 24 * 60 * 60;

/**
 * {@link ScopeMarks} in Redis: one key per scope (`<prefix>:memscope:<scope>:<id>`) holding a
 * random token. A token, not a counter: a key that expired and is written again must not come
 * back with a value a reader saw before it expired.
 */
export class RedisScopeMarks implements ScopeMarks {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(s: ScopeRef): string {
    return `${this.prefix}:memscope:${s.scope}:${s.scopeId}`;
  }

  async read(scopes: readonly ScopeRef[]): Promise<string[]> {
    if (scopes.length === 0) return [];
    const values = await this.redis.mget(scopes.map((s) => this.key(s)));
    return values.map((v) => v ?? '');
  }

  async mark(scopes: readonly ScopeRef[]): Promise<void> {
    const token = `${Date.now().toString(36)}.${randomBytes(6).toString('base64url')}`;
    // Each scope's mark stands alone, so the writes need no transaction.
    await Promise.all(scopes.map((s) => this.redis.set(this.key(s), token, 'EX', MARK_TTL_SECONDS)));
  }
}
