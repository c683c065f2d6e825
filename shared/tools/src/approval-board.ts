import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

/** The live state of an approval request, shared by the web (decisions), agent and tool-runner. */
export interface ApprovalState {
  id: string;
  sessionKey: string;
  /** Account that owns the session; only it may decide (web sessions). */
  account: string;
  turnId: string;
  toolCallId: string;
  tool: string;
  /** {@link argumentsDigest} of the arguments shown to the approver: the approval covers only those. */
  argsDigest: string;
  status: ApprovalStatus;
  decidedBy?: string | undefined;
}

/** Key order does not matter: `{a, b}` and `{b, a}` are the same arguments. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** A tool call's arguments as a digest (SHA-256 of their JSON with sorted keys), to tie an approval to them. */
export function argumentsDigest(args: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonical(args) ?? null)).digest('hex');
}

export type DecideResult = { ok: true; state: ApprovalState } | { ok: false; code: 'not_found' | 'already_decided'; status?: ApprovalStatus };

const DECIDE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
if redis.call('HGET', KEYS[1], 'account') ~= ARGV[3] then return {'not_found'} end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'pending' then return {'already_decided', status} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decidedBy', ARGV[2])
return {'ok'}
`;

/**
 * Approval requests in Redis: the agent worker parks a turn in Postgres and publishes the request
 * here; a decision (from the HTTP API or a chat button) is recorded atomically, once; the
 * tool-runner checks it again before running an approved call. Postgres keeps the durable record.
 */
export class ApprovalBoard {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  /** Publishes a pending request; kept `ttlSeconds` (the approval timeout plus a margin). */
  async publish(state: Omit<ApprovalState, 'status' | 'decidedBy'>, ttlSeconds: number): Promise<void> {
    const key = this.key(state.id);
    // HSETNX on status keeps a decision that raced ahead of a re-publish after a crash.
    await this.redis
      .multi()
      .hset(key, { id: state.id, sessionKey: state.sessionKey, account: state.account, turnId: state.turnId, toolCallId: state.toolCallId, tool: state.tool, argsDigest: state.argsDigest })
      .hsetnx(key, 'status', 'pending')
      .expire(key, ttlSeconds)
      .exec();
  }

  async get(id: string): Promise<ApprovalState | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.id) return undefined;
    return {
      id: h.id,
      sessionKey: h.sessionKey ?? '',
      account: h.account ?? '',
      turnId: h.turnId ?? '',
      toolCallId: h.toolCallId ?? '',
      tool: h.tool ?? '',
      argsDigest: h.argsDigest ?? '',
      status: (h.status ?? 'pending') as ApprovalStatus,
      decidedBy: h.decidedBy,
    };
  }

  /** Records a decision by `approver` of `account`, only while the request is pending. */
  async decide(id: string, decision: 'approved' | 'denied' | 'expired', account: string, approver: string): Promise<DecideResult> {
    const r = (await this.redis.eval(DECIDE, 1, this.key(id), decision, approver, account)) as string[];
    if (r[0] === 'ok') return { ok: true, state: (await this.get(id))! };
    return { ok: false, code: r[0] as 'not_found' | 'already_decided', ...(r[1] ? { status: r[1] as ApprovalStatus } : {}) };
  }
}
