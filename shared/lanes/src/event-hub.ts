import type { Redis } from 'ioredis';
import { SessionEvent, type StoredSessionEvent } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type { LaneStore } from './lane-store.ts';

interface Listener {
  /** The last event delivered; undefined until the follower says where to start. */
  lastId: string | undefined;
  onEvents(events: StoredSessionEvent[]): void;
  reading: boolean;
  dirty: boolean;
  /**
   * The events of the wake-ups that came before the start was known, in order; undefined once one
   * could not be kept (unparseable, or too many), and then the stream is read once it is.
   */
  early: Notice[] | undefined;
  closed: boolean;
}

interface Notice {
  prevId: string;
  stored: StoredSessionEvent;
}

/** Most wake-ups a listener keeps before its start is known (one request's turn sends two or three). */
const MAX_EARLY = 16;

/** A follow whose start is set later (see {@link EventHub.follow}). */
export interface Follow {
  /**
   * Delivers every event after `afterId` (`0`: from the start), then each new one. `current`: the
   * caller read `afterId` as the newest id after `follow()` resolved, so the stream is read only
   * if the wake-ups that came in between leave a gap after it.
   */
  from(afterId: string, current?: boolean): void;
  close(): void;
}

/** How long a session's channel stays subscribed after its last listener left (a client's next request usually comes sooner). */
const IDLE_CHANNEL_MS = 30_000;

/**
 * What `appendEvent` publishes: `<previous id>\n<id>\n<event json>` (the previous id is empty for
 * the first event of a stream). Undefined for anything else.
 */
function parseNotice(message: string): Notice | undefined {
  const a = message.indexOf('\n');
  const b = a < 0 ? -1 : message.indexOf('\n', a + 1);
  if (b < 0) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(message.slice(b + 1));
  } catch {
    return undefined;
  }
  const event = SessionEvent.safeParse(json);
  return event.success ? { prevId: message.slice(0, a), stored: { id: message.slice(a + 1, b), event: event.data } } : undefined;
}

/** Orders two stream ids (`<ms>-<seq>`, or `0`). */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Whether `notice` is the event right after `lastId` (`0`: the stream's first). */
function follows(notice: Notice, lastId: string): boolean {
  return notice.prevId === lastId || (lastId === '0' && notice.prevId === '');
}

/**
 * The events of `early` after `afterId`, when they follow on from it without a gap (so the stream
 * need not be read); undefined when one may be missing.
 */
function chainAfter(early: Notice[], afterId: string): StoredSessionEvent[] | undefined {
  const after = early.filter((n) => compareIds(n.stored.id, afterId) > 0);
  let last = afterId;
  for (const notice of after) {
    if (!follows(notice, last)) return undefined;
    last = notice.stored.id;
  }
  return after.map((n) => n.stored);
}

/**
 * Lets any web replica follow any session's event stream: one pub/sub connection per process
 * wakes readers, and the stream itself (read from each listener's last id) is the source of
 * truth, so a wake-up lost in a reconnect only delays events until the next periodic pump.
 * A wake-up carries its event and the id before it, so a listener that is up to date takes the
 * event from it without reading the stream. A session's channel stays subscribed for a while
 * after its last listener leaves, so a client that asks again soon costs no SUBSCRIBE. Wake-ups
 * that come before a follower knows where it starts are kept, and the stream is read then only if
 * they leave a gap after the start.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Subscribed channels by session, with the time the last listener left (undefined while listened to). */
  private readonly subscribed = new Map<string, { channel: string; idleSince: number | undefined; ready: Promise<unknown> }>();
  private readonly sessionOfChannel = new Map<string, string>();
  private readonly subscriber: Redis;
  private readonly store: LaneStore;
  private readonly log: Logger;
  private readonly timer: NodeJS.Timeout;

  /** `subscriber` must be a dedicated connection: it enters subscriber mode. */
  constructor(subscriber: Redis, store: LaneStore, log: Logger, pollIntervalMs = 2000) {
    this.subscriber = subscriber;
    this.store = store;
    this.log = log;
    subscriber.on('message', (channel: string, message: string) => {
      const sessionKey = this.sessionOfChannel.get(channel);
      if (sessionKey) this.wake(sessionKey, message);
    });
    this.timer = setInterval(() => {
      for (const sessionKey of this.listeners.keys()) this.pumpSession(sessionKey);
      this.unsubscribeIdle(Date.now() - IDLE_CHANNEL_MS);
    }, pollIntervalMs);
    this.timer.unref();
  }

  /** Number of open subscriptions (for the `sse_connections` gauge). */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /**
   * Delivers every event after `afterId` (`0`: from the start) and then each new one, in order and
   * once. Resolves when the subscription is live; the returned function ends it.
   */
  async subscribe(sessionKey: string, afterId: string, onEvents: (events: StoredSessionEvent[]) => void): Promise<() => void> {
    const follow = await this.follow(sessionKey, onEvents);
    follow.from(afterId);
    return () => follow.close();
  }

  /**
   * Like {@link subscribe}, for a caller that learns where to start only after it is listening
   * (the id of the newest event when its message was appended): wake-ups before `from()` are
   * remembered, not lost.
   */
  async follow(sessionKey: string, onEvents: (events: StoredSessionEvent[]) => void): Promise<Follow> {
    const listener: Listener = { lastId: undefined, onEvents, reading: false, dirty: false, early: [], closed: false };
    let set = this.listeners.get(sessionKey);
    if (!set) {
      set = new Set();
      this.listeners.set(sessionKey, set);
    }
    set.add(listener);
    let sub = this.subscribed.get(sessionKey);
    if (sub) sub.idleSince = undefined;
    else {
      const channel = this.store.keys.eventsChannel(sessionKey);
      sub = { channel, idleSince: undefined, ready: this.subscriber.subscribe(channel) };
      this.subscribed.set(sessionKey, sub);
      this.sessionOfChannel.set(channel, sessionKey);
    }
    try {
      await sub.ready;
    } catch (err) {
      this.remove(sessionKey, listener);
      if (this.subscribed.get(sessionKey) === sub) {
        this.subscribed.delete(sessionKey);
        this.sessionOfChannel.delete(sub.channel);
      }
      throw err;
    }
    return {
      from: (afterId, current = false) => {
        if (listener.lastId !== undefined || listener.closed) return;
        listener.lastId = afterId;
        const early = listener.early;
        listener.early = undefined;
        if (!current) return this.pump(sessionKey, listener);
        // Published between follow() and now: hand over what came after the start, if nothing is missing.
        const events = early && chainAfter(early, afterId);
        if (!events) return this.pump(sessionKey, listener);
        if (events.length === 0) return;
        listener.lastId = events[events.length - 1]!.id;
        listener.onEvents(events);
      },
      close: () => this.remove(sessionKey, listener),
    };
  }

  private remove(sessionKey: string, listener: Listener): void {
    listener.closed = true;
    const current = this.listeners.get(sessionKey);
    if (!current) return;
    current.delete(listener);
    if (current.size > 0) return;
    this.listeners.delete(sessionKey);
    const sub = this.subscribed.get(sessionKey);
    if (sub) sub.idleSince = Date.now();
  }

  private unsubscribeIdle(before: number): void {
    for (const [sessionKey, sub] of this.subscribed) {
      if (sub.idleSince === undefined || sub.idleSince > before) continue;
      this.subscribed.delete(sessionKey);
      this.sessionOfChannel.delete(sub.channel);
      void this.subscriber.unsubscribe(sub.channel).catch(() => undefined);
    }
  }

  private wake(sessionKey: string, message: string): void {
    const set = this.listeners.get(sessionKey);
    if (!set) return;
    const notice = parseNotice(message);
    for (const listener of set) {
      if (listener.lastId === undefined) {
        if (notice && listener.early && listener.early.length < MAX_EARLY) listener.early.push(notice);
        else listener.early = undefined;
      } else if (notice && !listener.reading && follows(notice, listener.lastId)) {
        // Up to date: this is the next event, no need to read the stream.
        listener.lastId = notice.stored.id;
        listener.onEvents([notice.stored]);
      } else this.pump(sessionKey, listener);
    }
  }

  private pumpSession(sessionKey: string): void {
    const set = this.listeners.get(sessionKey);
    if (set) for (const listener of set) this.pump(sessionKey, listener);
  }

  private pump(sessionKey: string, listener: Listener): void {
    if (listener.lastId === undefined) return;
    if (listener.reading) {
      listener.dirty = true;
      return;
    }
    listener.reading = true;
    void (async () => {
      try {
        for (;;) {
          listener.dirty = false;
          const page = await this.store.readEventPage(sessionKey, listener.lastId!);
          if (listener.closed) return;
          // Past unreadable entries too (a newer writer's event types), or they would be read forever.
          listener.lastId = page.lastId;
          if (page.events.length > 0) listener.onEvents(page.events);
          if (!page.full && !listener.dirty) return;
        }
      } catch (err) {
        this.log.warn({ err, sessionId: sessionKey }, 'reading session events failed');
      } finally {
        listener.reading = false;
      }
    })();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
    this.subscribed.clear();
    this.sessionOfChannel.clear();
  }
}
