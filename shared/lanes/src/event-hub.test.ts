import { afterEach, describe, expect, inject, it } from 'vitest';
import type { SessionEvent, StoredSessionEvent } from '@switchboard/contracts';
import { createLogger } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { createRedis, EventHub, LaneStore } from './index.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A hub over a store whose stream reads and SUBSCRIBEs are counted. */
function setup() {
  const prefix = uniquePrefix('hub');
  const redis = createRedis(inject('redisUrl'));
  const subscriber = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const counts = { reads: 0, readsDone: 0, subscribes: 0 };
  const readEventPage = store.readEventPage.bind(store);
  store.readEventPage = (...args) => (counts.reads++, readEventPage(...args).finally(() => counts.readsDone++));
  const subscribe = subscriber.subscribe.bind(subscriber);
  subscriber.subscribe = ((...args: Parameters<typeof subscriber.subscribe>) => (counts.subscribes++, subscribe(...args))) as typeof subscriber.subscribe;
  const hub = new EventHub(subscriber, store, logger, 60_000);
  cleanups.push(async () => {
    await hub.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    subscriber.disconnect();
  });
  return { store, hub, counts, redis };
}

const delta = (text: string): SessionEvent => ({ type: 'delta', turnId: 't1', text });
const texts = (events: StoredSessionEvent[]) => events.map((e) => (e.event.type === 'delta' ? e.event.text : e.event.type));

describe('EventHub', () => {
  it('hands an up-to-date listener each new event from its wake-up, without reading the stream', async () => {
    const { store, hub, counts } = setup();
    await store.appendEvent('s1', delta('before'));
    const seen: StoredSessionEvent[] = [];
    const stop = await hub.subscribe('s1', await store.lastEventId('s1'), (events) => seen.push(...events));
    await waitFor(async () => counts.readsDone === 1); // the catch-up read of subscribe()
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await store.appendEvent('s1', delta(`e${i}`)));
    await waitFor(async () => seen.length === 20);
    expect(texts(seen)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`));
    expect(seen.map((e) => e.id)).toEqual(ids);
    expect(counts.reads).toBe(1);
    stop();
  });

  it('moves past a page of events it cannot read (a newer writer’s types) to the ones after', async () => {
    const { store, hub, redis } = setup();
    for (let i = 0; i < 600; i++) await redis.xadd(store.keys.events('s9'), '*', 'e', JSON.stringify({ type: 'from_the_future', turnId: 't', n: i }));
    await store.appendEvent('s9', { type: 'reply', turnId: 't1', replyId: 'r1', text: 'made it', inReplyTo: [] });
    const seen: StoredSessionEvent[] = [];
    const stop = await hub.subscribe('s9', '0', (events) => seen.push(...events));
    await waitFor(async () => seen.length === 1, { timeoutMs: 5000 });
    expect(seen[0]!.event).toMatchObject({ type: 'reply', text: 'made it' });
    stop();
  });

  it('delivers every event in order and once when a listener is behind, reading the stream instead', async () => {
    const { store, hub } = setup();
    for (let i = 0; i < 5; i++) await store.appendEvent('s2', delta(`old${i}`));
    const seen: StoredSessionEvent[] = [];
    const stop = await hub.subscribe('s2', '0', (events) => seen.push(...events));
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.appendEvent('s2', delta(`new${i}`))));
    await waitFor(async () => seen.length === 35);
    expect(texts(seen)).toEqual([...Array.from({ length: 5 }, (_, i) => `old${i}`), ...Array.from({ length: 30 }, (_, i) => `new${i}`)]);
    expect(new Set(seen.map((e) => e.id)).size).toBe(35);
    stop();
  });

  it('keeps what was published between follow() and from(), and reads nothing when nothing was', async () => {
    const { store, hub, counts } = setup();
    const quiet: StoredSessionEvent[] = [];
    const a = await hub.follow('s3', (events) => quiet.push(...events));
    a.from(await store.lastEventId('s3'), true);
    expect(counts.reads).toBe(0);
    const seen: StoredSessionEvent[] = [];
    const b = await hub.follow('s3', (events) => seen.push(...events));
    const start = await store.lastEventId('s3');
    await store.appendEvent('s3', delta('published before from()'));
    await waitFor(async () => quiet.length === 1); // the wake-up has reached the hub
    b.from(start, true);
    await waitFor(async () => seen.length === 1);
    expect(texts(seen)).toEqual(['published before from()']);
    a.close();
    b.close();
  });

  it('hands over the events published between follow() and from() from their wake-ups, without reading the stream', async () => {
    const { store, hub, counts } = setup();
    await store.appendEvent('s5', delta('before'));
    const seen: StoredSessionEvent[] = [];
    const f = await hub.follow('s5', (events) => seen.push(...events));
    // A second listener, up to date from the start, shows when every wake-up has reached the hub.
    const watcher: StoredSessionEvent[] = [];
    const w = await hub.follow('s5', (events) => watcher.push(...events));
    const start = await store.lastEventId('s5');
    w.from(start, true);
    for (const text of ['a', 'b', 'c']) await store.appendEvent('s5', delta(text));
    await waitFor(async () => watcher.length === 3);
    f.from(start, true);
    expect(texts(seen)).toEqual(['a', 'b', 'c']);
    expect(counts.reads).toBe(0);
    await store.appendEvent('s5', delta('d'));
    await waitFor(async () => seen.length === 4);
    expect(texts(seen)).toEqual(['a', 'b', 'c', 'd']);
    expect(counts.reads).toBe(0);
    f.close();
    w.close();
  });

  it('reads the stream when the wake-ups kept before from() leave a gap after the start', async () => {
    const { store, hub, counts } = setup();
    const start = await store.lastEventId('s6');
    await store.appendEvent('s6', delta('unseen')); // before anyone listens: no wake-up for it
    const seen: StoredSessionEvent[] = [];
    const f = await hub.follow('s6', (events) => seen.push(...events));
    const watcher: StoredSessionEvent[] = [];
    const w = await hub.follow('s6', (events) => watcher.push(...events));
    w.from(await store.lastEventId('s6'), true);
    await store.appendEvent('s6', delta('seen'));
    await waitFor(async () => watcher.length === 1);
    f.from(start, true);
    await waitFor(async () => seen.length === 2);
    expect(texts(seen)).toEqual(['unseen', 'seen']);
    expect(counts.reads).toBe(1);
    f.close();
    w.close();
  });

  it('keeps a session channel subscribed for a while after its last listener leaves', async () => {
    const { store, hub, counts } = setup();
    for (let i = 0; i < 3; i++) {
      const seen: StoredSessionEvent[] = [];
      const f = await hub.follow('s4', (events) => seen.push(...events));
      f.from(await store.lastEventId('s4'), true);
      await store.appendEvent('s4', delta(`r${i}`));
      await waitFor(async () => seen.length === 1);
      f.close();
    }
    expect(counts.subscribes).toBe(1);
  });
});
