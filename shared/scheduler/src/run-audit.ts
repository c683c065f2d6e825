import type { Redis } from 'ioredis';
import { scheduleKeys } from './keys.ts';

/** Approximate length the audit stream of runs is capped at. */
export const RUN_AUDIT_MAX_LEN = 10_000;

/** What started a background run: a schedule firing, a heartbeat, or an inbound webhook. */
export type RunKind = 'schedule' | 'heartbeat' | 'hook';

/** One background run as the audit trail keeps it. */
export interface RunEntry {
  kind: RunKind;
  /** The schedule id, the heartbeat's agent name or the hook name. */
  source: string;
  /** The account the run belongs to (who may read it). */
  account: string;
  /**
   * `delivered` (the event went into its session), `duplicate` (already delivered: a redelivered
   * job, another replica, a repeated idempotency key), `skipped_stale` (missed while the system was
   * down, policy skip), `cancelled` (schedule deleted), `inactive` (heartbeat outside active hours),
   * `unauthorized` (hook called with a bad secret), `failed`.
   */
  outcome: string;
  /** When the run was due (epoch ms); for hooks, when it was called. */
  firingMs: number;
  sessionKey?: string;
  messageId?: string;
}

/** An audit entry as read back: the entry plus its stream id and when it was written (ISO). */
export interface RunRecord extends RunEntry {
  id: string;
  at: string;
}

/** Days an account's trail outlives its last entry. */
const RUN_AUDIT_TTL_SECONDS = 30 * 24 * 3600;

/**
 * The audit trail of background runs (schedules, heartbeats, hooks): a capped Redis stream per
 * account, `<prefix>:schedules:runs:<account>`, so every replica writes to and reads from the same
 * trail, and one account's busy schedules cannot push another account's history out (they shared
 * one stream before, `<prefix>:schedules:runs`, still read until its entries age out). Schedule
 * entries keep their `scheduleId` field for readers of the older shape.
 */
export class RunAudit {
  private readonly redis: Redis;
  /** The stream all accounts shared before. */
  private readonly legacyKey: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.legacyKey = scheduleKeys(prefix).runs;
  }

  /** The stream of one account's runs. */
  keyOf(account: string): string {
    return `${this.legacyKey}:${encodeURIComponent(account)}`;
  }

  async record(entry: RunEntry): Promise<void> {
    const fields: Record<string, string> = {
      kind: entry.kind,
      source: entry.source,
      account: entry.account,
      outcome: entry.outcome,
      firingMs: String(entry.firingMs),
      atMs: String(Date.now()),
      ...(entry.kind === 'schedule' ? { scheduleId: entry.source } : {}),
      ...(entry.sessionKey ? { sessionKey: entry.sessionKey } : {}),
      ...(entry.messageId ? { messageId: entry.messageId } : {}),
    };
    const key = this.keyOf(entry.account);
    await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', String(RUN_AUDIT_MAX_LEN), '*', ...Object.entries(fields).flat())
      .expire(key, RUN_AUDIT_TTL_SECONDS)
      .exec();
  }

  /**
   * Runs of `account`, newest first, optionally of one kind and source; at most `limit` (default
   * 50, at most 500), read from the newest `scanLimit` entries of its trail (default 5000) and of
   * the older shared one.
   */
  async list(filter: { account: string; kind?: RunKind; source?: string; limit?: number; scanLimit?: number }): Promise<RunRecord[]> {
    const limit = Math.min(Math.max(1, filter.limit ?? 50), 500);
    const scan = (key: string) => this.redis.xrevrange(key, '+', '-', 'COUNT', filter.scanLimit ?? 5000) as Promise<Array<[string, string[]]>>;
    const [own, legacy] = await Promise.all([scan(this.keyOf(filter.account)), scan(this.legacyKey)]);
    // Newest first across both (stream ids are `<ms>-<seq>`).
    const newer = (a: string, b: string) => {
      const [am, as] = a.split('-').map(Number);
      const [bm, bs] = b.split('-').map(Number);
      return bm! - am! || bs! - as!;
    };
    const raw = legacy.length === 0 ? own : [...own, ...legacy].sort(([a], [b]) => newer(a, b));
    const out: RunRecord[] = [];
    for (const [id, flat] of raw) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      // Entries written before runs had a kind were schedule firings.
      const kind = (f.kind ?? 'schedule') as RunKind;
      const source = f.source ?? f.scheduleId ?? '';
      if (f.account !== filter.account) continue;
      if (filter.kind && kind !== filter.kind) continue;
      if (filter.source && source !== filter.source) continue;
      out.push({
        id,
        kind,
        source,
        account: f.account,
        outcome: f.outcome ?? 'unknown',
        firingMs: Number(f.firingMs ?? 0),
        at: new Date(Number(f.atMs ?? id.split('-')[0])).toISOString(),
        ...(f.sessionKey ? { sessionKey: f.sessionKey } : {}),
        ...(f.messageId ? { messageId: f.messageId } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }
}
