import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { createLaneWorker, createRedis, EventHub, LaneIngress, LaneStore, TurnParkedError, TurnQueue, type TurnContext } from './index.ts';

const logger = createLogger({ service: 'probe', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function setup() {
  const prefix = uniquePrefix('probe');
  const redis = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const ingress = new LaneIngress(store, turns, registry);
  cleanups.push(async () => {
    await turns.queue.obliterate({ force: true }).catch(() => undefined);
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    await turns.close();
    redis.disconnect();
  });
  return { prefix, redis, store, turns, ingress, registry };
}

function msg(sessionKey: string, text: string) {
  return { v: 1 as const, platform: 'web', sessionKey, account: 'a', chatId: sessionKey, userId: 'u', kind: 'user' as const, text, receivedAtMs: Date.now() };
}

function worker(env: ReturnType<typeof setup>, handle: (ctx: TurnContext) => Promise<void>, leaseMs: number, concurrency = 50) {
  const connection: Redis = createRedis(inject('redisUrl'));
  const w = createLaneWorker({ connection, prefix: env.prefix, store: env.store, turns: env.turns, logger, registry: env.registry, leaseMs, concurrency, handle, onGiveUp: async () => undefined });
  cleanups.push(async () => {
    await w.close();
    connection.disconnect();
  });
  return w;
}

describe('probe: lanes', () => {
  it('a poison inbox entry blocks its session forever (no give-up, no dead letter)', async () => {
    const env = setup();
    const s = 'poison-session';
    // An entry a newer producer wrote (a kind this version does not know).
    const bad = { ...msg(s, 'from a newer version'), id: 'poison-1', kind: 'reaction' };
    await env.redis.xadd(env.store.keys.inbox(s), '*', 'm', JSON.stringify(bad), 'i', 'poison-1');
    await env.redis.zadd(env.store.keys.pending, Date.now(), s);
    const handled: string[] = [];
    worker(env, async (ctx) => void handled.push(...ctx.messages.map((m) => m.text)), 500);
    await env.ingress.submit(msg(s, 'valid later message'));
    await new Promise((r) => setTimeout(r, 14_000));
    const dead = await env.redis.xlen(env.store.keys.deadLetters);
    const inbox = await env.redis.xlen(env.store.keys.inbox(s));
    const turn = await env.redis.hgetall(env.store.keys.turn(s));
    console.log('POISON', { handled, dead, inbox, turn });
    expect(handled).toEqual([]);
    expect(dead).toBe(0);
    expect(inbox).toBe(2);
  }, 30_000);

  it('the lane sweep only ever looks at the 500 oldest pending sessions: a lost turn behind 500 parked sessions is never recovered', async () => {
    const env = setup();
    const handled: string[] = [];
    worker(env, async (ctx) => {
      if (ctx.sessionKey.startsWith('parked-')) throw new TurnParkedError('waiting for approval');
      handled.push(ctx.sessionKey);
    }, 1000, 100);
    for (let i = 0; i < 500; i++) await env.ingress.submit(msg(`parked-${i}`, 'needs approval'));
    await new Promise((r) => setTimeout(r, 3000));
    // A producer that died between appending and requesting the turn (what the sweep is for).
    await env.store.append(msg('victim', 'hello'));
    await new Promise((r) => setTimeout(r, 10_000));
    console.log('SWEEP', { handled, stale: (await env.store.stalePending(Date.now(), 500)).includes('victim') });
    expect(handled).toEqual([]);
  }, 40_000);

  it('control: without parked sessions the sweep recovers the lost turn', async () => {
    const env = setup();
    const handled: string[] = [];
    worker(env, async (ctx) => void handled.push(ctx.sessionKey), 1000);
    await env.store.append(msg('victim', 'hello'));
    await new Promise((r) => setTimeout(r, 5000));
    expect(handled).toEqual(['victim']);
  }, 20_000);

  it('EventHub: 500 events this version cannot parse stall a follower forever', async () => {
    const env = setup();
    const s = 'hub-session';
    for (let i = 0; i < 500; i++) await env.redis.xadd(env.store.keys.events(s), '*', 'e', JSON.stringify({ type: 'reasoning_delta', turnId: 't', text: 'x' }));
    await env.store.appendEvent(s, { type: 'reply', turnId: 't', replyId: 'reply-t', text: 'the answer', inReplyTo: ['m'] });
    const sub = createRedis(inject('redisUrl'));
    const hub = new EventHub(sub, env.store, logger, 200);
    cleanups.push(async () => {
      await hub.close();
      sub.disconnect();
    });
    const got: string[] = [];
    const stop = await hub.subscribe(s, '0', (events) => got.push(...events.map((e) => e.event.type)));
    await new Promise((r) => setTimeout(r, 3000));
    stop();
    console.log('HUB', got);
    expect(got).toEqual([]);
  }, 20_000);
});
