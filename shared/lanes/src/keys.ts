/**
 * An idempotency key made of parts (source, account, session, the client's key…), one for each
 * tuple of parts: each part is URI-encoded, so none can contain the `:` between them. (Joined
 * plainly, `a-b` + `c` and `a` + `b-c` would be one key, and the second message dropped as a
 * redelivery of the first.)
 */
export function dedupeKey(...parts: string[]): string {
  return parts.map(encodeURIComponent).join(':');
}

/** Every Redis key the lanes use, under one prefix (a deployment, or one test). */
export interface LaneKeys {
  prefix: string;
  /** Stream of a session's unprocessed inbound messages, in delivery order. */
  inbox(sessionKey: string): string;
  /** Redelivery guard: idempotency key → message id. */
  dedupe(key: string): string;
  /** Sorted set: sessions with unprocessed messages, scored by the oldest one's arrival (ms). */
  pending: string;
  /** Hash describing the batch the current turn of a session is working on. */
  turn(sessionKey: string): string;
  /** Fencing-token counter of a session (bumped by every claim). */
  fence(sessionKey: string): string;
  /** List of checkpointed model steps of the current turn, so a resumed turn replays them. */
  steps(sessionKey: string): string;
  /** Stream of session events (deltas, replies, tool activity), the source for SSE. */
  events(sessionKey: string): string;
  /** Pub/sub channel that wakes readers of a session's event stream. */
  eventsChannel(sessionKey: string): string;
  /** Marker that an event with this dedupe key was already appended. */
  delivered(key: string): string;
  /** Stream of turns that failed for good, for operators. */
  deadLetters: string;
  /** Marker that the session's turn is parked (waiting for a person): the lane sweep leaves it be while it lasts. */
  parked(sessionKey: string): string;
  /** Set of a session's inbox entries already dead-lettered as unreadable (a re-claimed batch skips them). */
  unreadableRecorded(sessionKey: string): string;
  /** Pub/sub channel announcing each new inbound message (`<sessionKey> <messageId>`), for interrupt mode. */
  arrivals: string;
  /**
   * Sorted set of a chat's outbound jobs not yet sent (job ids, scored by enqueue time in ms, Redis
   * clock): the channel replicas send a chat's replies in this order (see ReplyPublisher).
   */
  outboundOrder(platform: string, chatId: string, threadId?: string): string;
  /**
   * Marker that an outbound job (a reply, an approval prompt) was queued: a turn that delivers its
   * reply again later than the queue keeps the finished job queues nothing.
   */
  outboundEnqueued(platform: string, jobId: string): string;
}

export function laneKeys(prefix: string): LaneKeys {
  return {
    prefix,
    inbox: (s) => `${prefix}:inbox:${s}`,
    dedupe: (k) => `${prefix}:dedupe:${k}`,
    pending: `${prefix}:lanes:pending`,
    turn: (s) => `${prefix}:turn:${s}`,
    steps: (s) => `${prefix}:steps:${s}`,
    fence: (s) => `${prefix}:fence:${s}`,
    events: (s) => `${prefix}:events:${s}`,
    eventsChannel: (s) => `${prefix}:evch:${s}`,
    delivered: (k) => `${prefix}:delivered:${k}`,
    deadLetters: `${prefix}:deadletters`,
    parked: (s) => `${prefix}:parked:${s}`,
    unreadableRecorded: (s) => `${prefix}:unreadable:${s}`,
    arrivals: `${prefix}:arrivals`,
    outboundOrder: (platform, chatId, threadId) => `${prefix}:outq:${platform}:${dedupeKey(chatId, threadId ?? '')}`,
    outboundEnqueued: (platform, jobId) => `${prefix}:outqd:${platform}:${jobId}`,
  };
}
