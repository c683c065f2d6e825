import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DmPolicy, GroupPolicy } from './config.ts';

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export type DmDecision =
  | { allow: true }
  | { allow: false; reason: 'disabled' | 'not_allowed' }
  | { allow: false; reason: 'pairing'; code: string; fresh: boolean };

export interface PendingPairing {
  code: string;
  userId: string;
  userName: string | undefined;
  chatId: string;
}

export interface ChannelAccessOptions {
  redis: Redis;
  prefix: string;
  /** `telegram`, `slack`, ...: part of every Redis key, so platforms never share pairings. */
  platform: string;
  /** The bot/workspace/phone-number id on that platform. */
  account: string;
  policy: DmPolicy;
  /** Who may talk to the bot in groups (default `allowed`: whom the DM rules let in). */
  groupPolicy?: GroupPolicy;
  allowFrom: readonly string[];
  pairingTtlSeconds: number;
}

/**
 * Who may reach the model from a direct message: the DM policy, `<PLATFORM>_ALLOW_FROM`, and users
 * an owner paired; and from a group: the group policy, on the same list. Pairing codes live in Redis with a TTL; a user asking again gets the same code.
 * Also remembers platform delivery ids so a redelivered webhook is handled once.
 */
export class ChannelAccess {
  private readonly redis: Redis;
  private readonly base: string;
  private readonly policy: DmPolicy;
  private readonly groupPolicy: GroupPolicy;
  private readonly allowFrom: ReadonlySet<string>;
  private readonly pairingTtlSeconds: number;

  constructor(opts: ChannelAccessOptions) {
    this.redis = opts.redis;
    this.base = `${opts.prefix}:ch:${opts.platform}:${opts.account}`;
    this.policy = opts.policy;
    this.groupPolicy = opts.groupPolicy ?? 'allowed';
    this.allowFrom = new Set(opts.allowFrom);
    this.pairingTtlSeconds = opts.pairingTtlSeconds;
  }

  /** Configured or paired: may talk in DMs under `allowlist`/`pairing` and answer approvals in groups. */
  async isAllowed(userId: string): Promise<boolean> {
    if (this.allowFrom.has(userId)) return true;
    return (await this.redis.sismember(`${this.base}:paired`, userId)) === 1;
  }

  /**
   * Whether a group message from `userId` may reach the model: `ignore` when groups are disabled,
   * `deny` for a sender the group policy does not let in. Without this, anyone could add the bot to
   * a group of their own and reach the model and its tools past the DM policy.
   */
  async decideGroup(userId: string): Promise<'allow' | 'deny' | 'ignore'> {
    if (this.groupPolicy === 'disabled') return 'ignore';
    if (this.groupPolicy === 'open' || this.policy === 'open') return 'allow';
    return (await this.isAllowed(userId)) ? 'allow' : 'deny';
  }

  async decideDm(userId: string, userName: string | undefined, chatId: string): Promise<DmDecision> {
    if (this.policy === 'disabled') return { allow: false, reason: 'disabled' };
    if (this.policy === 'open' || (await this.isAllowed(userId))) return { allow: true };
    if (this.policy === 'allowlist') return { allow: false, reason: 'not_allowed' };
    const existing = await this.redis.get(`${this.base}:pair-user:${userId}`);
    if (existing) return { allow: false, reason: 'pairing', code: existing, fresh: false };
    const code = Array.from({ length: 8 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
    const pending: PendingPairing = { code, userId, userName, chatId };
    // NX on the user key: two concurrent first messages agree on one code.
    const set = await this.redis.set(`${this.base}:pair-user:${userId}`, code, 'EX', this.pairingTtlSeconds, 'NX');
    if (set !== 'OK') {
      const winner = await this.redis.get(`${this.base}:pair-user:${userId}`);
      if (winner) return { allow: false, reason: 'pairing', code: winner, fresh: false };
    }
    await this.redis.set(`${this.base}:pair-code:${code}`, JSON.stringify(pending), 'EX', this.pairingTtlSeconds);
    return { allow: false, reason: 'pairing', code, fresh: true };
  }

  /** Approves a pending pairing code; returns who was paired, or undefined for an unknown/expired code. */
  async approve(code: string): Promise<PendingPairing | undefined> {
    const key = `${this.base}:pair-code:${code.toUpperCase()}`;
    const raw = await this.redis.get(key);
    if (!raw) return undefined;
    const pending = JSON.parse(raw) as PendingPairing;
    await this.redis.multi().sadd(`${this.base}:paired`, pending.userId).del(key, `${this.base}:pair-user:${pending.userId}`).exec();
    return pending;
  }

  private seenKey(deliveryId: string | number): string {
    return `${this.base}:seen:${deliveryId}`;
  }

  /** Remembers a platform delivery id (update_id, event_id, wamid, ...) for a day; false when seen before. */
  async firstDelivery(deliveryId: string | number): Promise<boolean> {
    return (await this.redis.set(this.seenKey(deliveryId), '1', 'EX', 24 * 3600, 'NX')) === 'OK';
  }

  /**
   * Runs `handle` for the first delivery of `deliveryId` only; 'duplicate' for a later one. When
   * `handle` fails, the delivery is forgotten, so the platform's redelivery is handled again (a
   * button press is not lost to a failure in between).
   */
  async handleOnce<T>(deliveryId: string | number, handle: () => Promise<T>): Promise<T | 'duplicate'> {
    if (!(await this.firstDelivery(deliveryId))) return 'duplicate';
    try {
      return await handle();
    } catch (err) {
      await this.redis.del(this.seenKey(deliveryId)).catch(() => undefined);
      throw err;
    }
  }

  /** Once-only marker for anything else (an approval prompt sent, a draft created), kept for `ttlSeconds`. */
  async once(key: string, ttlSeconds = 7 * 24 * 3600): Promise<boolean> {
    return (await this.redis.set(`${this.base}:once:${key}`, '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  /** Clears a {@link once} marker (what it guarded failed, so it may happen again). */
  async forgetOnce(key: string): Promise<void> {
    await this.redis.del(`${this.base}:once:${key}`);
  }
}
