import type { Redis } from 'ioredis';
import type { StoredSessionEvent } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type { LaneStore } from './lane-store.ts';

interface Listener {
  lastId: string;
  onEvents(events: StoredSessionEvent[]): void;
  reading: boolean;
  dirty: boolean;
  closed: boolean;
}

/**
 * Lets any web replica follow any session's event stream: one pub/sub connection per process
 * wakes readers, and the stream itself (read from each listener's last id) is the source of
 * truth, so a wake-up lost in a reconnect only delays events until the next periodic pump.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly channels = new Map<string, string>();
  private readonly subscriber: Redis;
  private readonly store: LaneStore;
  private readonly log: Logger;
  private readonly timer: NodeJS.Timeout;

  /** `subscriber` must be a dedicated connection: it enters subscriber mode. */
  constructor(subscriber: Redis, store: LaneStore, log: Logger, pollIntervalMs = 2000) {
    this.subscriber = subscriber;
    this.store = store;
    this.log = log;
    subscriber.on('message', (channel: string) => {
      const sessionKey = this.channels.get(channel);
      if (sessionKey) this.pumpSession(sessionKey);
    });
    this.timer = setInterval(() => {
      for (const sessionKey of this.listeners.keys()) this.pumpSession(sessionKey);
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
    const listener: Listener = { lastId: afterId, onEvents, reading: false, dirty: false, closed: false };
    let set = this.listeners.get(sessionKey);
    if (!set) {
      set = new Set();
      this.listeners.set(sessionKey, set);
      const channel = this.store.keys.eventsChannel(sessionKey);
      this.channels.set(channel, sessionKey);
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    this.pump(sessionKey, listener);
    return () => {
      listener.closed = true;
      const current = this.listeners.get(sessionKey);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(sessionKey);
        const channel = this.store.keys.eventsChannel(sessionKey);
        this.channels.delete(channel);
        void this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  private pumpSession(sessionKey: string): void {
    const set = this.listeners.get(sessionKey);
    if (set) for (const listener of set) this.pump(sessionKey, listener);
  }

  private pump(sessionKey: string, listener: Listener): void {
    if (listener.reading) {
      listener.dirty = true;
      return;
    }
    listener.reading = true;
    void (async () => {
      try {
        for (;;) {
          listener.dirty = false;
          const events = await this.store.readEvents(sessionKey, listener.lastId);
          if (listener.closed) return;
          if (events.length > 0) {
            listener.lastId = events[events.length - 1]!.id;
            listener.onEvents(events);
          }
          if (events.length < 500 && !listener.dirty) return;
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
    this.channels.clear();
  }
}
