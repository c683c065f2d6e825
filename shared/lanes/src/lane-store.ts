import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InboundMessage, issuesText, SessionEvent, type StoredSessionEvent } from '@switchboard/contracts';
import { laneKeys, type LaneKeys } from './keys.ts';
import { ackBatch, appendEvent, appendInbound, bumpFence, claimBatch, releaseBatch, saveStep } from './scripts.ts';
import { FencedError } from './errors.ts';

/** The largest Redis stream id. */
const LAST_STREAM_ID = '18446744073709551615-18446744073709551615';

/** How long a redelivery is recognised, in seconds (default one day). */
export const DEFAULT_DEDUPE_TTL_SECONDS = 24 * 3600;
/** Events kept per session stream (approximate trim) and for how long after the last one. */
export const DEFAULT_EVENTS_MAX_LEN = 2000;
export const DEFAULT_EVENTS_TTL_SECONDS = 7 * 24 * 3600;
/**
 * How long a session's fencing-token counter and its emptied inbox stay after their last use. A
 * counter started again begins above every token it gave before (see claimBatch).
 */
export const SESSION_STATE_TTL_SECONDS = 7 * 24 * 3600;

/** A message as a lane keeps it: validated, with a fresh id when it came without one. */
export function toInbound(message: Omit<InboundMessage, 'id'> & { id?: string }): InboundMessage {
  return InboundMessage.parse({ ...message, id: message.id ?? randomUUID() });
}

/** One claim of a batch: its turn id and the fencing token the claim took. */
export interface Claim {
  turnId: string;
  fence: number;
}

export interface ClaimedBatch {
  turnId: string;
  /** True when this batch was claimed before by a turn that did not finish. */
  resumed: boolean;
  /** Fencing token of this claim; newer than every earlier claim of the session. */
  fence: number;
  /** Every inbox entry of the batch, readable or not: acknowledging them removes them all. */
  streamIds: string[];
  messages: InboundMessage[];
  /**
   * Entries that are not a message this version can read (a newer producer's, a corrupted one),
   * with why: they are not handed to the turn, and go with the batch so they cannot block the
   * session.
   */
  unreadable?: Array<{ streamId: string; error: string }>;
}

export interface AppendResult {
  messageId: string;
  duplicate: boolean;
  /** The session's newest event when the message was appended (`0`: none); its events come after. */
  lastEventId: string;
}

type RawEntry = [string, string[]];

/** Short, stable, `:`-free digest of a session key, used in turn and job ids. */
export function sessionDigest(sessionKey: string): string {
  return createHash('sha256').update(sessionKey).digest('base64url').slice(0, 16);
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * The Redis side of session lanes: inbox streams, batch claims and acknowledgements, checkpoints
 * of a running turn, and each session's event stream. Every multi-key step is one Lua script, so
 * a crash between two calls never leaves a half-applied change.
 */
export class LaneStore {
  readonly keys: LaneKeys;
  readonly redis: Redis;
  private readonly dedupeTtlSeconds: number;

  constructor(redis: Redis, opts: { prefix: string; dedupeTtlSeconds?: number }) {
    this.redis = redis;
    this.keys = laneKeys(opts.prefix);
    this.dedupeTtlSeconds = opts.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS;
  }

  /**
   * Appends a normalized message to its session's inbox. With a `dedupeKey` (platform update id,
   * client idempotency key) a second delivery returns the first message's id and appends nothing.
   */
  async append(message: Omit<InboundMessage, 'id'> & { id?: string }, dedupeKey?: string): Promise<AppendResult> {
    return this.appendValid(toInbound(message), dedupeKey);
  }

  /** {@link append} for a message already validated ({@link toInbound}); its command is sent before this returns. */
  async appendValid(full: InboundMessage, dedupeKey?: string): Promise<AppendResult> {
    const k = this.keys;
    const result = (await appendInbound.run(
      this.redis,
      [k.inbox(full.sessionKey), k.pending, dedupeKey ? k.dedupe(dedupeKey) : '-', k.arrivals, k.events(full.sessionKey)],
      [JSON.stringify(full), full.id, this.dedupeTtlSeconds, full.sessionKey, Date.now()],
    )) as [string, number, string];
    return { messageId: result[0], duplicate: result[1] === 1, lastEventId: result[2] };
  }

  /** Whether a message was appended under `dedupeKey` (within the dedupe window). */
  async seen(dedupeKey: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.dedupe(dedupeKey))) === 1;
  }

  /**
   * Whether the session has messages waiting for a turn or in one that has not finished (an inbox
   * entry stays until its turn is acknowledged).
   */
  async busy(sessionKey: string): Promise<boolean> {
    return (await this.redis.xlen(this.keys.inbox(sessionKey))) > 0;
  }

  /**
   * Claims (or re-claims, after a crash) the batch of messages the session's next turn handles.
   * A new claim also appends the turn's `turn_started` event (see claimBatch).
   */
  async claim(sessionKey: string, maxBatch: number): Promise<ClaimedBatch | undefined> {
    const k = this.keys;
    const result = (await claimBatch.run(
      this.redis,
      [k.inbox(sessionKey), k.turn(sessionKey), k.fence(sessionKey), k.events(sessionKey), k.eventsChannel(sessionKey), k.steps(sessionKey)],
      [maxBatch, `${sessionDigest(sessionKey)}-`, DEFAULT_EVENTS_MAX_LEN, DEFAULT_EVENTS_TTL_SECONDS, SESSION_STATE_TTL_SECONDS],
    )) as [string, number, RawEntry[], number] | null;
    if (!result) return undefined;
    const [turnId, resumed, entries, fence] = result;
    const messages: InboundMessage[] = [];
    const streamIds: string[] = [];
    const unreadable: Array<{ streamId: string; error: string }> = [];
    for (const [id, fields] of entries) {
      streamIds.push(id);
      let parsed: ReturnType<typeof InboundMessage.safeParse> | undefined;
      try {
        parsed = InboundMessage.safeParse(JSON.parse(fieldValue(fields, 'm') ?? 'null'));
      } catch (err) {
        unreadable.push({ streamId: id, error: `not JSON: ${(err as Error).message}` });
        continue;
      }
      if (parsed.success) messages.push(parsed.data);
      else unreadable.push({ streamId: id, error: issuesText(parsed.error.issues) });
    }
    return { turnId, resumed: resumed === 1, fence: Number(fence), streamIds, messages, ...(unreadable.length > 0 ? { unreadable } : {}) };
  }

  /**
   * Makes the sessions' next claims skip a fencing token, so no worker reuses what it holds of
   * their transcripts from before (their history caches): for changes to transcripts that are not
   * turns, such as deleting a user's data. Harmless to a turn that is running: its commit still
   * presents its own token.
   */
  async bumpFences(sessionKeys: readonly string[]): Promise<void> {
    await Promise.all(sessionKeys.map((s) => bumpFence.run(this.redis, [this.keys.fence(s)], [SESSION_STATE_TTL_SECONDS])));
  }

  /**
   * Removes a finished turn's messages from the inbox. Returns how many messages still wait, or
   * -1 when the recorded batch belongs to another turn, or to a newer claim of this one (a resumed
   * run elsewhere): nothing is removed then.
   */
  async ack(sessionKey: string, claim: Claim, streamIds: string[]): Promise<number> {
    const k = this.keys;
    return (await ackBatch.run(
      this.redis,
      [k.inbox(sessionKey), k.turn(sessionKey), k.steps(sessionKey), k.pending],
      [claim.turnId, sessionKey, SESSION_STATE_TTL_SECONDS, claim.fence, ...streamIds],
    )) as number;
  }

  /**
   * Releases a claimed batch unacknowledged (interrupt mode); false if another turn, or a newer
   * claim of this one, owns it.
   */
  async release(sessionKey: string, claim: Claim): Promise<boolean> {
    return (await releaseBatch.run(this.redis, [this.keys.turn(sessionKey), this.keys.steps(sessionKey)], [claim.turnId, claim.fence])) === 1;
  }

  /**
   * Whether `claim` is still its batch's latest claim: false once the batch was resumed elsewhere
   * (a newer fencing token), acknowledged, or given back and claimed anew.
   */
  async owns(sessionKey: string, claim: Claim): Promise<boolean> {
    const [turnId, fence] = await this.redis.hmget(this.keys.turn(sessionKey), 'turnId', 'fence');
    return turnId === claim.turnId && fence === String(claim.fence);
  }

  /**
   * Checkpoints one finished step of a turn (JSON), so a resumed turn replays instead of redoing it.
   * Throws FencedError when the batch was claimed again since (or acknowledged): the step is not saved.
   */
  async saveStep(sessionKey: string, claim: Claim, step: unknown): Promise<void> {
    const saved = await saveStep.run(this.redis, [this.keys.turn(sessionKey), this.keys.steps(sessionKey)], [claim.turnId, claim.fence, JSON.stringify(step)]);
    if (saved !== 1) throw new FencedError(sessionKey, claim.fence);
  }

  async loadSteps<T>(sessionKey: string): Promise<T[]> {
    const raw = await this.redis.lrange(this.keys.steps(sessionKey), 0, -1);
    return raw.map((s) => JSON.parse(s) as T);
  }

  /**
   * Appends an event to the session's event stream and wakes its readers. With a `dedupeKey` the
   * event is appended at most once (a resumed turn re-sending its reply gets the first id back).
   */
  async appendEvent(sessionKey: string, event: SessionEvent, dedupeKey?: string): Promise<string> {
    const k = this.keys;
    return (await appendEvent.run(
      this.redis,
      [k.events(sessionKey), dedupeKey ? k.delivered(dedupeKey) : '-', k.eventsChannel(sessionKey)],
      [JSON.stringify(event), DEFAULT_EVENTS_MAX_LEN, DEFAULT_EVENTS_TTL_SECONDS],
    )) as string;
  }

  /** Reads events after `afterId` (exclusive; `0` for all), oldest first. */
  async readEvents(sessionKey: string, afterId: string, count = 500): Promise<StoredSessionEvent[]> {
    return (await this.readEventPage(sessionKey, afterId, count)).events;
  }

  /**
   * One page of {@link readEvents}, with the id of the last entry read (`afterId` when none) and
   * whether the page was full: entries this version cannot read are skipped, and a reader must
   * still move past them, or a run of them would stop it for good.
   */
  async readEventPage(sessionKey: string, afterId: string, count = 500): Promise<{ events: StoredSessionEvent[]; lastId: string; full: boolean }> {
    // Nothing follows the largest id (and Redis refuses an exclusive start there).
    if (afterId === LAST_STREAM_ID) return { events: [], lastId: afterId, full: false };
    const start = afterId === '0' || afterId === '' ? '-' : `(${afterId}`;
    const entries = (await this.redis.xrange(this.keys.events(sessionKey), start, '+', 'COUNT', count)) as RawEntry[];
    const events: StoredSessionEvent[] = [];
    for (const [id, fields] of entries) {
      const parsed = SessionEvent.safeParse(JSON.parse(fieldValue(fields, 'e') ?? 'null'));
      if (parsed.success) events.push({ id, event: parsed.data });
    }
    return { events, lastId: entries.at(-1)?.[0] ?? afterId, full: entries.length === count };
  }

  /** The id of the newest event, or `0` when there is none (a reader that wants only new events starts here). */
  async lastEventId(sessionKey: string): Promise<string> {
    const entries = (await this.redis.xrevrange(this.keys.events(sessionKey), '+', '-', 'COUNT', 1)) as RawEntry[];
    return entries[0]?.[0] ?? '0';
  }

  /** Sessions whose oldest waiting message arrived before `beforeMs`. */
  async stalePending(beforeMs: number, limit = 1000, offset = 0): Promise<string[]> {
    return await this.redis.zrangebyscore(this.keys.pending, '-inf', String(beforeMs), 'LIMIT', offset, limit);
  }

  /** Arrival time (epoch ms) of the oldest message still waiting in any session, if any. */
  async oldestPendingMs(): Promise<number | undefined> {
    // The typed command: a raw `call` answers `[[member, score]]` over RESP3 (ioredis 6's default),
    // which read as `[member, score]` made this always undefined and the age gauge always 0.
    const first = await this.redis.zrange(this.keys.pending, '0', '0', 'WITHSCORES');
    return first[1] === undefined ? undefined : Number(first[1]);
  }

  /**
   * Drops the event streams of `sessionKeys` (their replay buffer for SSE and the console: user
   * text and replies). Used when a user's data is deleted; a live reader just sees no history.
   */
  async forgetEvents(sessionKeys: readonly string[]): Promise<void> {
    if (sessionKeys.length > 0) await this.redis.unlink(...sessionKeys.map((s) => this.keys.events(s)));
  }

  /** Notes that the session's turn `turnId` parked; the lane sweep does not start it again for `forMs`. */
  async markParked(sessionKey: string, turnId: string, forMs: number): Promise<void> {
    await this.redis.set(this.keys.parked(sessionKey), turnId, 'PX', Math.max(1, Math.round(forMs)));
  }

  /**
   * Which of `sessionKeys` are parked, in order: marked (see {@link markParked}) by the turn that
   * still holds the session's batch. Once that turn went on and finished, the session's next
   * messages are another batch, which the sweep must not pass over.
   */
  async parkedOf(sessionKeys: readonly string[]): Promise<boolean[]> {
    if (sessionKeys.length === 0) return [];
    const marks = await this.redis.mget(...sessionKeys.map((s) => this.keys.parked(s)));
    return await Promise.all(
      marks.map(async (turnId, i) => turnId !== null && (await this.redis.hget(this.keys.turn(sessionKeys[i]!), 'turnId')) === turnId),
    );
  }

  /**
   * Dead-letters the batch's unreadable entries not recorded before, and returns them. A batch
   * claimed again (its turn crashed, or interrupt mode gave it back) holds the same entries until
   * it is acknowledged; they are recorded once. A crash between the record and its mark records an
   * entry twice: an operator may see one twice, never none.
   */
  async deadLetterUnreadable(sessionKey: string, batch: ClaimedBatch): Promise<Array<{ streamId: string; error: string }>> {
    if (!batch.unreadable) return [];
    const recorded = this.keys.unreadableRecorded(sessionKey);
    const seen = (await this.redis.smismember(recorded, ...batch.unreadable.map((u) => u.streamId))) as number[];
    const fresh = batch.unreadable.filter((_, i) => seen[i] !== 1);
    for (const u of fresh) await this.deadLetter({ sessionKey, turnId: batch.turnId, messageIds: [], error: `unreadable inbox entry ${u.streamId}: ${u.error}` });
    if (fresh.length > 0) await this.redis.multi().sadd(recorded, ...fresh.map((u) => u.streamId)).expire(recorded, SESSION_STATE_TTL_SECONDS).exec();
    return fresh;
  }

  /** Records a turn that failed for good, for operators to inspect. */
  async deadLetter(entry: { sessionKey: string; turnId: string; messageIds: string[]; error: string }): Promise<void> {
    await this.redis.xadd(this.keys.deadLetters, 'MAXLEN', '~', '10000', '*', 'd', JSON.stringify({ ...entry, atMs: Date.now() }));
  }
}
