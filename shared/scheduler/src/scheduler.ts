import { randomBytes } from 'node:crypto';
import { Queue, type RepeatOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { issueList, sessionKey, type DeliveryTarget } from '@switchboard/contracts';
import { LuaScript } from '@switchboard/lanes';
import { scheduleKeys, type ScheduleKeys } from './keys.ts';
import { RunAudit } from './run-audit.ts';
import {
  CreateScheduleInput,
  ScheduleId,
  ScheduleJob,
  ScheduleRecord,
  ScheduleTarget,
  SCHEDULE_QUEUE,
  type DeliverInput,
  nextCronRunMs,
  type ScheduleSpec,
  type ValidScheduleInput,
} from './schema.ts';

/** A schedule as the API lists it. */
export interface ScheduleView {
  id: string;
  sessionId: string;
  message: string;
  at?: string;
  everyMs?: number;
  cron?: string;
  timezone?: string;
  missedRuns: 'skip' | 'run_once';
  /** Where each run's answer goes, when not to the run's own session. */
  deliver?: DeliverInput;
  createdAt: string;
  /** The next time it fires (ISO), when known. */
  nextRunAt?: string;
}

/** Invalid input: nothing was created. `issues` lists what was wrong, per field. */
export class ScheduleInputError extends Error {
  readonly code = 'bad_request';
  readonly issues: Array<{ path: string; message: string }>;
  constructor(issues: Array<{ path: string; message: string }>) {
    super(`invalid schedule: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
    this.name = 'ScheduleInputError';
    this.issues = issues;
  }
}

/** A schedule was not created: its conversation or account has as many as it may. Nothing was created. */
export class ScheduleLimitError extends Error {
  readonly code = 'limit_reached';
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleLimitError';
  }
}

/** How many schedules may exist at once, per conversation and per account. */
export interface ScheduleLimits {
  /** Per conversation: a session, with the isolated run sessions made from it. Default {@link DEFAULT_SCHEDULE_LIMITS}. */
  perConversation: number;
  /** Per account (all of a bot's or an API key's conversations together). */
  perAccount: number;
}

/**
 * Defaults of {@link ScheduleLimits}: a chat cannot fill Redis with schedules (a model asked to
 * "remind me every minute about each of these 5,000 lines" stops at 100), and one account of a
 * shared bot leaves room for the others.
 */
export const DEFAULT_SCHEDULE_LIMITS: ScheduleLimits = { perConversation: 100, perAccount: 10_000 };

/**
 * Writes a schedule's record and its two index entries, only while both the account's and the
 * conversation's count are under their limits (checked and written at once, so racing creates
 * cannot pass a limit). KEYS: record, account set, conversation set. ARGV: record JSON, created-at
 * ms, id, account limit, conversation limit. Returns 1, or -1 / -2 for the account / conversation limit.
 */
const CREATE = new LuaScript(`
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return -2 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 1
`);

/**
 * Notes schedules in their conversations' indexes, each only while its record exists (a schedule
 * deleted meanwhile is not noted again). KEYS: per schedule, its record and its conversation's
 * index. ARGV: per schedule, its created-at ms and id. Returns how many were noted.
 */
const NOTE_IN_CONVERSATIONS = new LuaScript(`
local noted = 0
for i = 1, #KEYS, 2 do
  local j = (i + 1) / 2
  if redis.call('EXISTS', KEYS[i]) == 1 then
    noted = noted + redis.call('ZADD', KEYS[i + 1], ARGV[2 * j - 1], ARGV[2 * j])
  end
end
return noted
`);

/** The job id of a one-shot schedule's delayed job. */
export function oneShotJobId(scheduleId: string): string {
  return `once-${scheduleId}`;
}

/**
 * The delivery target of `deliver` for a schedule whose runs go into `target`'s session. A chat
 * on the target's own platform gets its session key (so its event stream shows the reply, for web
 * sessions the SSE stream); a chat on another platform is reached through that platform's
 * outbound queue only.
 */
export function deliveryTargetOf(deliver: DeliverInput, target: ScheduleTarget): DeliveryTarget {
  const address = { platform: deliver.channel, account: target.account, chatId: deliver.chatId, ...(deliver.threadId ? { threadId: deliver.threadId } : {}) };
  return deliver.channel === target.platform ? { ...address, sessionKey: sessionKey(address) } : address;
}

function specOf(input: ValidScheduleInput): ScheduleSpec {
  if (input.at !== undefined) return { kind: 'at', atMs: Date.parse(input.at) };
  if (input.everyMs !== undefined) return { kind: 'every', everyMs: input.everyMs };
  return { kind: 'cron', cron: input.cron!.trim(), ...(input.timezone ? { timezone: input.timezone } : {}) };
}

/**
 * Schedules on BullMQ job schedulers in the `schedules` queue: `every` and cron (`pattern` + `tz`)
 * as job schedulers whose id is the schedule id, one-shots as a delayed job. The metadata (owner,
 * target session, message, policy) lives in Redis under the prefix, so any replica can list and
 * delete; the jobs carry only the schedule id, so a deleted schedule never delivers.
 */
export class Scheduler {
  readonly queue: Queue;
  /** The non-blocking connection the metadata lives on (also used for the run audit stream). */
  readonly redis: Redis;
  /** The audit trail of runs (schedules, heartbeats, hooks) under the same prefix. */
  readonly runs: RunAudit;
  private readonly keys: ScheduleKeys;
  private readonly limits: ScheduleLimits;

  /** `connection` must be a non-blocking connection; `prefix` is `SWITCHBOARD_PREFIX`. */
  constructor(connection: Redis, prefix: string, limits: ScheduleLimits = DEFAULT_SCHEDULE_LIMITS) {
    this.redis = connection;
    this.limits = limits;
    this.keys = scheduleKeys(prefix);
    this.runs = new RunAudit(connection, prefix);
    this.queue = new Queue(SCHEDULE_QUEUE.name, { connection, prefix });
  }

  /**
   * Validates `input` and creates the schedule for `target` (the session's inbound address, built
   * by the channel that owns the session). Throws `ScheduleInputError` and creates nothing when the
   * input is invalid, `ScheduleLimitError` when the conversation or the account is at its limit.
   */
  async create(account: string, input: unknown, target: ScheduleTarget): Promise<ScheduleRecord> {
    const parsed = CreateScheduleInput.safeParse(input);
    if (!parsed.success) throw new ScheduleInputError(issueList(parsed.error.issues));
    const record = ScheduleRecord.parse({
      v: 1,
      id: `sch_${randomBytes(10).toString('hex')}`,
      account,
      sessionId: parsed.data.sessionId,
      sessionKey: target.sessionKey,
      message: parsed.data.message,
      spec: specOf(parsed.data),
      missedRuns: parsed.data.missedRuns,
      createdAtMs: Date.now(),
      target: ScheduleTarget.parse(target),
      ...(parsed.data.deliver ? { deliverTo: deliveryTargetOf(parsed.data.deliver, target) } : {}),
    });
    // Metadata first: a firing that finds no record delivers nothing, so the reverse order could
    // lose the first run of a schedule whose interval is shorter than this write.
    const written = await CREATE.run(
      this.redis,
      [this.keys.schedule(record.id), this.keys.account(account), this.keys.conversation(record.sessionKey)],
      [JSON.stringify(record), record.createdAtMs, record.id, this.limits.perAccount, this.limits.perConversation],
    );
    if (written === -1) throw new ScheduleLimitError(`this account has ${this.limits.perAccount} schedules, as many as it may (SCHEDULES_MAX_PER_ACCOUNT); delete one first`);
    if (written === -2) throw new ScheduleLimitError(`this conversation has ${this.limits.perConversation} schedules, as many as it may (SCHEDULES_MAX_PER_CONVERSATION); delete one first`);
    try {
      await this.enqueue(record);
    } catch (err) {
      await this.forget(record);
      throw err;
    }
    return record;
  }

  /**
   * Once per deployment: notes the schedules created before conversations had an index (and so a
   * limit) in their conversation's index, so they count toward `perConversation`. Safe to run on
   * several replicas at once. Returns how many it noted (0 once done).
   */
  async indexConversations(): Promise<number> {
    const marker = this.keys.conversationsIndexed;
    if (await this.redis.exists(marker)) return 0;
    let noted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.schedule('*'), 'COUNT', 500);
      cursor = next;
      const raws = keys.length > 0 ? await this.redis.mget(...keys) : [];
      const batchKeys: string[] = [];
      const batchArgs: Array<string | number> = [];
      raws.forEach((raw, i) => {
        let parsed;
        try {
          parsed = raw ? ScheduleRecord.safeParse(JSON.parse(raw)) : undefined;
        } catch {
          return; // not JSON: no schedule to note
        }
        if (!parsed?.success) return;
        batchKeys.push(keys[i]!, this.keys.conversation(parsed.data.sessionKey));
        batchArgs.push(parsed.data.createdAtMs, parsed.data.id);
      });
      if (batchKeys.length > 0) noted += Number(await NOTE_IN_CONVERSATIONS.run(this.redis, batchKeys, batchArgs));
    } while (cursor !== '0');
    await this.redis.set(marker, String(Date.now()));
    return noted;
  }

  private async enqueue(record: ScheduleRecord): Promise<void> {
    const data: ScheduleJob = { v: 1, scheduleId: record.id };
    const d = SCHEDULE_QUEUE.defaults;
    const opts = {
      attempts: d.attempts,
      backoff: { type: 'exponential', delay: d.backoffMs },
      removeOnComplete: { count: d.removeOnCompleteCount },
      removeOnFail: { age: d.removeOnFailAgeSeconds },
    };
    const spec = record.spec;
    if (spec.kind === 'at') {
      await this.queue.add('once', { ...data, atMs: spec.atMs }, { ...opts, jobId: oneShotJobId(record.id), delay: Math.max(0, spec.atMs - Date.now()) });
      return;
    }
    // `every` schedulers would fire at once; the first run is one interval after creation instead.
    const repeat: Omit<RepeatOptions, 'key'> =
      spec.kind === 'every' ? { every: spec.everyMs, startDate: record.createdAtMs + spec.everyMs } : { pattern: spec.cron, tz: spec.timezone ?? 'UTC' };
    await this.queue.upsertJobScheduler(record.id, repeat, { name: 'fire', data, opts });
  }

  /** The record of schedule `id`, or undefined. */
  async get(id: string): Promise<ScheduleRecord | undefined> {
    if (!ScheduleId.safeParse(id).success) return undefined;
    const raw = await this.redis.get(this.keys.schedule(id));
    if (!raw) return undefined;
    const parsed = ScheduleRecord.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  }

  /** The schedules of `account` (those `only` keeps, when given), oldest first, with their next run time. */
  async list(account: string, only?: (record: ScheduleRecord) => boolean): Promise<ScheduleView[]> {
    const ids = await this.redis.zrange(this.keys.account(account), '0', '-1');
    const views: ScheduleView[] = [];
    for (const id of ids) {
      const record = await this.get(id);
      if (record && record.account === account && (!only || only(record))) views.push(await this.view(record));
    }
    return views;
  }

  private async view(r: ScheduleRecord): Promise<ScheduleView> {
    const deliver = r.deliverTo ? { deliver: { channel: r.deliverTo.platform as DeliverInput['channel'], chatId: r.deliverTo.chatId, ...(r.deliverTo.threadId ? { threadId: r.deliverTo.threadId } : {}) } } : {};
    const base = { id: r.id, sessionId: r.sessionId, message: r.message, missedRuns: r.missedRuns, ...deliver, createdAt: new Date(r.createdAtMs).toISOString() };
    const spec = r.spec;
    if (spec.kind === 'at') return { ...base, at: new Date(spec.atMs).toISOString(), nextRunAt: new Date(spec.atMs).toISOString() };
    const scheduler = await this.queue.getJobScheduler(r.id);
    const next = scheduler?.next ?? (spec.kind === 'cron' ? nextRunOrUndefined(spec.cron, spec.timezone) : undefined);
    const when = spec.kind === 'every' ? { everyMs: spec.everyMs } : { cron: spec.cron, ...(spec.timezone ? { timezone: spec.timezone } : {}) };
    return { ...base, ...when, ...(next ? { nextRunAt: new Date(next).toISOString() } : {}) };
  }

  /**
   * Deletes schedule `id` of `account`. Returns false (and changes nothing) when there is no such
   * schedule or it belongs to another account.
   */
  async delete(account: string, id: string): Promise<boolean> {
    const record = await this.get(id);
    if (!record || record.account !== account) return false;
    await this.forget(record);
    await this.unschedule(record);
    return true;
  }

  /** Removes the BullMQ side of a schedule (its job scheduler or its pending one-shot job). */
  async unschedule(record: ScheduleRecord): Promise<void> {
    if (record.spec.kind === 'at') {
      // An active (locked) job cannot be removed; it finds no record and delivers nothing.
      await this.queue.remove(oneShotJobId(record.id)).catch(() => 0);
    } else {
      await this.queue.removeJobScheduler(record.id);
    }
  }

  /** Deletes a schedule's metadata; firings still queued then deliver nothing. */
  async forget(record: ScheduleRecord): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.schedule(record.id))
      .zrem(this.keys.account(record.account), record.id)
      .zrem(this.keys.conversation(record.sessionKey), record.id)
      .exec();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** The next run of a stored cron schedule, or undefined when it has none (listing must not fail). */
function nextRunOrUndefined(cron: string, timezone: string | undefined): number | undefined {
  try {
    return nextCronRunMs(cron, timezone);
  } catch {
    return undefined;
  }
}
