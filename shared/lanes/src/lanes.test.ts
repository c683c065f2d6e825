import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { Queue } from 'bullmq';
import { outboundQueue } from '@switchboard/contracts';
import { createLaneWorker, createRedis, FencedError, laneKeys, LaneIngress, LaneStore, ReplyPublisher, TurnInterruptedError, TurnParkedError, TurnQueue, type LaneWorker, type TurnContext } from './index.ts';
import { toInbound } from './lane-store.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function setup() {
  const prefix = uniquePrefix('lane');
  const redis = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const ingress = new LaneIngress(store, turns, registry);
  cleanups.push(async () => {
    await turns.queue.obliterate({ force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await turns.close();
    redis.disconnect();
  });
  return { prefix, redis, store, turns, ingress, registry };
}

function msg(sessionKey: string, text: string) {
  return { v: 1 as const, platform: 'web', sessionKey, account: 'a', chatId: sessionKey, userId: 'u', kind: 'user' as const, text, receivedAtMs: Date.now() };
}

function startWorker(
  env: ReturnType<typeof setup>,
  handle: (ctx: TurnContext) => Promise<void>,
  extra: { maxBatch?: number; concurrency?: number; logger?: typeof logger; interrupt?: { subscriber: Redis }; onGiveUp?: (ctx: TurnContext, err: unknown) => Promise<void>; sweepPage?: number } = {},
): LaneWorker {
  const connection: Redis = createRedis(inject('redisUrl'));
  const w = createLaneWorker({
    connection,
    prefix: env.prefix,
    store: env.store,
    turns: env.turns,
    logger,
    registry: env.registry,
    leaseMs: 2000,
    handle,
    onGiveUp: async () => undefined,
    ...extra,
  });
  cleanups.push(async () => {
    await w.close();
    connection.disconnect();
  });
  return w;
}

describe('LaneStore', () => {
  it('deduplicates a redelivered message by its key', async () => {
    const { store } = setup();
    const a = await store.append(msg('s1', 'hello'), 'web-k1');
    const b = await store.append(msg('s1', 'hello again'), 'web-k1');
    expect(b).toMatchObject({ messageId: a.messageId, duplicate: true });
    const batch = await store.claim('s1', 10);
    expect(batch?.messages.map((m) => m.text)).toEqual(['hello']);
  });

  it('re-claims the same batch with the same turn id until it is acknowledged', async () => {
    const { store } = setup();
    for (const t of ['a', 'b', 'c']) await store.append(msg('s2', t));
    const first = await store.claim('s2', 2);
    await store.append(msg('s2', 'd'));
    const again = await store.claim('s2', 10);
    expect(again?.turnId).toBe(first?.turnId);
    expect(again?.resumed).toBe(true);
    expect(again?.messages.map((m) => m.text)).toEqual(['a', 'b']);
    expect(await store.ack('s2', { turnId: 'someone-else', fence: again!.fence }, again!.streamIds)).toBe(-1);
    // The first claim's run stalled and the batch was resumed: only the resumed run acknowledges it.
    expect(again!.fence).toBeGreaterThan(first!.fence);
    expect(await store.owns('s2', first!)).toBe(false);
    expect(await store.owns('s2', again!)).toBe(true);
    expect(await store.ack('s2', first!, first!.streamIds)).toBe(-1);
    expect(await store.ack('s2', again!, again!.streamIds)).toBe(2);
    expect(await store.owns('s2', again!)).toBe(false);
    const next = await store.claim('s2', 10);
    expect(next?.messages.map((m) => m.text)).toEqual(['c', 'd']);
    expect(next?.turnId).not.toBe(first?.turnId);
  });

  it("announces a new claim's turn in the session's events, and a resumed claim's not again", async () => {
    const { store, redis } = setup();
    const subscriber = redis.duplicate();
    cleanups.push(async () => void subscriber.disconnect());
    const woken: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => void woken.push(message));
    await subscriber.subscribe(store.keys.eventsChannel('s4'));
    const a = await store.append(msg('s4', 'a'));
    const b = await store.append(msg('s4', 'b'));
    const first = await store.claim('s4', 10);
    const started = { type: 'turn_started', turnId: first!.turnId, messageIds: [a.messageId, b.messageId] };
    const events = await store.readEvents('s4', '0');
    expect(events.map((e) => e.event)).toEqual([started]);
    // Readers are woken with `<previous id>\n<id>\n<event>` (no previous event here).
    await waitFor(() => woken.length === 1);
    const [prev, id, json] = woken[0]!.split('\n');
    expect([prev, id, JSON.parse(json!)]).toEqual(['', events[0]!.id, started]);

    // A resumed claim (a crashed turn) was announced already.
    const resumed = await store.claim('s4', 10);
    expect(resumed?.resumed).toBe(true);
    expect(await store.readEvents('s4', '0')).toHaveLength(1);

    // A batch given back (an interrupted turn) is announced again with what joined it. Only its
    // latest claim gives it back: the stalled first run would hand the resumed run's batch (and
    // its checkpointed steps, a tool already run) to a new turn.
    const c = await store.append(msg('s4', 'c'));
    await store.saveStep('s4', resumed!, { tool: 'ran' });
    expect(await store.release('s4', first!)).toBe(false);
    expect(await store.loadSteps('s4')).toEqual([{ tool: 'ran' }]);
    expect(await store.owns('s4', resumed!)).toBe(true);
    expect(await store.release('s4', resumed!)).toBe(true);
    const again = await store.claim('s4', 10);
    expect(again).toMatchObject({ turnId: `${first!.turnId}.1`, resumed: false });
    const reply = await store.appendEvent('s4', { type: 'reply', turnId: again!.turnId, replyId: 'r', text: 'hi', inReplyTo: [a.messageId] });
    const after = await store.readEvents('s4', events[0]!.id);
    expect(after.map((e) => e.event)).toEqual([{ ...started, turnId: again!.turnId, messageIds: [a.messageId, b.messageId, c.messageId] }, expect.objectContaining({ type: 'reply' })]);
    // The released turn's stalled run can neither save steps nor acknowledge the new turn's batch.
    await expect(store.saveStep('s4', first!, { stale: true })).rejects.toBeInstanceOf(FencedError);
    expect(await store.ack('s4', first!, first!.streamIds)).toBe(-1);
    expect(after[1]!.id).toBe(reply);
    // Nothing follows the largest stream id (Redis refuses an exclusive range from it).
    expect(await store.readEvents('s4', '18446744073709551615-18446744073709551615')).toEqual([]);
    await waitFor(() => woken.length === 3);
    expect(woken[2]!.split('\n').slice(0, 2)).toEqual([after[0]!.id, reply]);

    // The next batch is a new turn.
    expect(await store.ack('s4', again!, again!.streamIds)).toBe(0);
    const d = await store.append(msg('s4', 'd'));
    const next = await store.claim('s4', 10);
    expect((await store.readEvents('s4', reply)).map((e) => e.event)).toEqual([{ type: 'turn_started', turnId: next!.turnId, messageIds: [d.messageId] }]);
  });

  it('announces a message whose text ended in half an emoji (kept as U+FFFD), and one appended before ids had their own field', async () => {
    const { store, redis } = setup();
    const cut = await store.append(msg('s5', 'cut emoji \ud83d'));
    const batch = await store.claim('s5', 10);
    expect(batch).toMatchObject({ resumed: false, messages: [{ id: cut.messageId, text: 'cut emoji \ufffd' }] });
    expect((await store.readEvents('s5', '0')).map((e) => e.event)).toEqual([{ type: 'turn_started', turnId: batch!.turnId, messageIds: [cut.messageId] }]);
    await store.ack('s5', batch!, batch!.streamIds);
    // An inbox entry as the previous version wrote it: the message JSON only.
    const old = toInbound(msg('s5', 'from before'));
    await redis.xadd(store.keys.inbox('s5'), '*', 'm', JSON.stringify(old));
    const next = await store.claim('s5', 10);
    expect((await store.readEvents('s5', '0')).map((e) => e.event).at(-1)).toEqual({ type: 'turn_started', turnId: next!.turnId, messageIds: [old.id] });
  });

  it('keeps checkpoint steps to the claim that holds the batch', async () => {
    const { store, redis } = setup();
    await store.append(msg('s6', 'one'));
    const t1 = await store.claim('s6', 10);
    await store.saveStep('s6', t1!, { turn: 't1', n: 1 });
    // Claimed again (the first worker stalled): the stale claim may no longer write.
    const again = await store.claim('s6', 10);
    await expect(store.saveStep('s6', t1!, { turn: 't1', stale: true })).rejects.toBeInstanceOf(FencedError);
    await store.saveStep('s6', again!, { turn: 't1', n: 2 });
    expect(await store.loadSteps('s6')).toEqual([{ turn: 't1', n: 1 }, { turn: 't1', n: 2 }]);
    // Acknowledged: nobody writes to it any more.
    await store.ack('s6', again!, again!.streamIds);
    await expect(store.saveStep('s6', again!, { turn: 't1', late: true })).rejects.toBeInstanceOf(FencedError);
    // Steps left behind anyway (as the previous version could) are not replayed by the next turn.
    await redis.rpush(store.keys.steps('s6'), JSON.stringify({ turn: 't1', orphan: true }));
    await store.append(msg('s6', 'two'));
    const t2 = await store.claim('s6', 10);
    await store.saveStep('s6', t2!, { turn: 't2', n: 1 });
    expect((await store.claim('s6', 10))?.resumed).toBe(true);
    expect(await store.loadSteps('s6')).toEqual([{ turn: 't2', n: 1 }]);
  });

  it('never gives two batches of a session the same turn id, even when a turn takes under a millisecond', async () => {
    const { store } = setup();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      await store.append(msg('s7', `m${i}`));
      const batch = await store.claim('s7', 10);
      expect(seen.has(batch!.turnId), `turn id ${batch!.turnId} again at ${i}`).toBe(false);
      seen.add(batch!.turnId);
      expect(await store.ack('s7', batch!, batch!.streamIds)).toBe(0);
    }
  });

  it("lets a session's lane state expire, and gives newer tokens after its counter expired", async () => {
    const { store, redis, prefix } = setup();
    const r = await store.append(msg('s8', 'hi'), 'k8');
    const first = await store.claim('s8', 10);
    await store.appendEvent('s8', { type: 'reply', turnId: first!.turnId, replyId: 'r8', text: 'hello', inReplyTo: [r.messageId] }, 'r8');
    await store.ack('s8', first!, first!.streamIds);
    // Every key of the session (the turn queue's own keys are not per session).
    const keys = (await redis.keys(`${prefix}:*`)).filter((key) => !key.startsWith(`${prefix}:turns:`));
    const ttls = Object.fromEntries(await Promise.all(keys.map(async (key) => [key.slice(prefix.length + 1), await redis.ttl(key)] as const)));
    expect(Object.entries(ttls).filter(([, ttl]) => ttl < 0)).toEqual([]);
    expect(Object.keys(ttls).sort()).toEqual(['dedupe:k8', 'delivered:r8', 'events:s8', 'fence:s8', 'inbox:s8']);
    // The counter gone (expired): the next claim's token is still newer than every earlier one.
    await redis.del(store.keys.fence('s8'));
    await store.append(msg('s8', 'later'));
    expect(await redis.ttl(store.keys.inbox('s8'))).toBe(-1); // an inbox with messages never expires
    const later = await store.claim('s8', 10);
    expect(later!.fence).toBeGreaterThan(first!.fence);
    await store.bumpFences(['s8']);
    expect((await store.claim('s8', 10))!.fence).toBe(later!.fence + 2);
  });

  it('appends an event once per dedupe key and reads after an id', async () => {
    const { store } = setup();
    const e = { type: 'reply' as const, turnId: 't', replyId: 'r', text: 'hi', inReplyTo: ['m'] };
    const id1 = await store.appendEvent('s3', e, 'reply-t');
    const id2 = await store.appendEvent('s3', e, 'reply-t');
    expect(id2).toBe(id1);
    const id3 = await store.appendEvent('s3', { type: 'delta', turnId: 't2', text: 'x' });
    expect((await store.readEvents('s3', '0')).map((x) => x.id)).toEqual([id1, id3]);
    expect((await store.readEvents('s3', id1)).map((x) => x.id)).toEqual([id3]);
  });
});

describe('lane worker', () => {
  it("makes a turn's logger only when the turn logs, bound to its session, turn and job", async () => {
    const env = setup();
    const lines: Array<Record<string, unknown>> = [];
    const capture = createLogger({ service: 'test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    let children = 0;
    const child = capture.child.bind(capture);
    capture.child = ((...args: Parameters<typeof child>) => (children++, child(...args))) as typeof capture.child;
    const seen: TurnContext[] = [];
    const handle = async (ctx: TurnContext) => {
      seen.push(ctx);
      if (ctx.sessionKey === 'talkative') ctx.log.warn('from the turn');
    };
    startWorker(env, handle, { logger: capture });
    await env.ingress.submit(msg('quiet', 'hi'));
    await waitFor(() => seen.length === 1);
    expect(children).toBe(0);
    await env.ingress.submit(msg('talkative', 'hi'));
    await waitFor(() => lines.length === 1);
    expect(children).toBe(1);
    expect(lines[0]).toMatchObject({ msg: 'from the turn', sessionId: 'talkative', turnId: seen[1]!.turnId, jobId: expect.any(String) });
  });

  it('interrupt mode: a message that arrives while the claim is on its way interrupts the turn, unless the claim took it', async () => {
    const env = setup();
    const subscriber = createRedis(inject('redisUrl'));
    cleanups.push(async () => void subscriber.disconnect());
    // Session `late`: a second message is appended after the claim took the first, before the worker
    // has the batch. Session `taken`: it is appended just before the claim, which takes it along.
    const claim = env.store.claim.bind(env.store);
    const sent = new Set<string>();
    env.store.claim = async (sessionKey, maxBatch) => {
      const first = !sent.has(sessionKey);
      sent.add(sessionKey);
      if (first && sessionKey === 'taken') await env.ingress.submit(msg('taken', 'second'));
      const batch = await claim(sessionKey, maxBatch);
      if (first && sessionKey === 'late') await env.ingress.submit(msg('late', 'second'));
      // Either way the arrival reaches the worker's subscriber before the worker has the batch.
      if (first) await new Promise((r) => setTimeout(r, 100));
      return batch;
    };
    const seen: Record<string, Array<{ texts: string[]; aborted: boolean }>> = { late: [], taken: [] };
    startWorker(
      env,
      async (ctx) => {
        seen[ctx.sessionKey]!.push({ texts: ctx.messages.map((m) => m.text), aborted: ctx.signal.aborted });
        if (ctx.signal.aborted) throw new TurnInterruptedError(ctx.sessionKey);
      },
      { interrupt: { subscriber } },
    );
    await waitFor(async () => ((await env.redis.call('PUBSUB', 'NUMSUB', env.store.keys.arrivals)) as [string, number])[1] === 1);
    await env.ingress.submit(msg('late', 'first'));
    await env.ingress.submit(msg('taken', 'first'));
    await waitFor(() => seen.late!.length === 2 && seen.taken!.length === 1);
    expect(seen).toEqual({
      late: [
        { texts: ['first'], aborted: true },
        { texts: ['first', 'second'], aborted: false },
      ],
      taken: [{ texts: ['first', 'second'], aborted: false }],
    });
  });

  it('a stalled run whose batch was resumed elsewhere neither gives it up nor acknowledges it when it fails', async () => {
    const env = setup();
    const givenUp: string[] = [];
    let resumed: Awaited<ReturnType<LaneStore['claim']>>;
    const runs: number[] = [];
    startWorker(
      env,
      async (ctx) => {
        runs.push(ctx.fence);
        // Meanwhile the lease ran out and another worker resumed the batch (a newer token)...
        resumed = await env.store.claim(ctx.sessionKey, 20);
        // ...and this run then fails for good.
        throw Object.assign(new Error('model said no'), { retryable: false });
      },
      { onGiveUp: async (ctx) => void givenUp.push(ctx.turnId) },
    );
    const { messageId } = await env.ingress.submit(msg('stalled', 'hi'));
    await waitFor(() => runs.length === 1);
    await waitFor(async () => (await env.turns.queue.getJobCounts('active')).active === 0);
    // The user is not told of a failure, and the message stays for the run that holds it now.
    expect(givenUp).toEqual([]);
    expect(resumed!).toMatchObject({ resumed: true, messages: [{ id: messageId }] });
    expect(resumed!.fence).toBeGreaterThan(runs[0]!);
    expect(await env.store.owns('stalled', resumed!)).toBe(true);
    expect(await env.store.ack('stalled', resumed!, resumed!.streamIds)).toBe(0);
  });

  it('dead-letters an inbox entry it cannot read and answers the session’s other messages instead of being stuck behind it', async () => {
    const env = setup();
    const seen: string[][] = [];
    startWorker(env, async (ctx) => void seen.push(ctx.messages.map((m) => m.text)));
    // A newer producer's message kind, and a corrupted entry, ahead of a good message.
    await env.redis.xadd(env.store.keys.inbox('poison'), '*', 'm', JSON.stringify({ ...toInbound(msg('poison', 'from the future')), kind: 'telepathy' }));
    await env.redis.xadd(env.store.keys.inbox('poison'), '*', 'm', '{not json');
    await env.ingress.submit(msg('poison', 'after'));
    await waitFor(() => seen.flat().includes('after'), { timeoutMs: 10_000 });
    expect(seen).toEqual([['after']]);
    // A batch of unreadable entries only is acknowledged too.
    await env.redis.xadd(env.store.keys.inbox('poison2'), '*', 'm', '[]');
    await env.turns.request('poison2');
    await waitFor(async () => (await env.redis.xlen(env.store.keys.inbox('poison2'))) === 0, { timeoutMs: 10_000 });
    await env.ingress.submit(msg('poison2', 'later'));
    await waitFor(() => seen.flat().includes('later'), { timeoutMs: 10_000 });
    expect(await env.redis.xlen(env.store.keys.inbox('poison'))).toBe(0);
    const letters = (await env.redis.xrange(env.store.keys.deadLetters, '-', '+')).map(([, f]) => JSON.parse(f[1]!) as { sessionKey: string; error: string });
    expect(letters.map((l) => l.sessionKey)).toEqual(['poison', 'poison', 'poison2']);
    expect(letters[0]!.error).toMatch(/^unreadable inbox entry \S+: kind:/);
    expect(letters[1]!.error).toMatch(/not JSON/);
  });

  it('knows when the oldest message still waiting arrived (the lane age gauge)', async () => {
    const env = setup();
    expect(await env.store.oldestPendingMs()).toBeUndefined();
    const before = Date.now();
    await env.store.append(msg('waiting1', 'first'));
    await env.store.append(msg('waiting2', 'second'));
    const oldest = await env.store.oldestPendingMs();
    expect(oldest).toBeGreaterThanOrEqual(before - 5);
    expect(oldest).toBeLessThanOrEqual(Date.now());
  });

  it('dead-letters an unreadable entry once when its batch is claimed again after a failed attempt', async () => {
    const env = setup();
    let attempts = 0;
    const seen: string[] = [];
    startWorker(env, async (ctx) => {
      attempts += 1;
      if (attempts === 1) throw Object.assign(new Error('model unreachable'), { retryable: true });
      seen.push(...ctx.messages.map((m) => m.text));
    });
    await env.redis.xadd(env.store.keys.inbox('poison3'), '*', 'm', '{not json');
    await env.ingress.submit(msg('poison3', 'after'));
    await waitFor(() => seen.includes('after'), { timeoutMs: 15_000 });
    expect(attempts).toBe(2);
    const letters = (await env.redis.xrange(env.store.keys.deadLetters, '-', '+')).map(([, f]) => JSON.parse(f[1]!) as { error: string });
    expect(letters).toHaveLength(1);
    expect(letters[0]!.error).toMatch(/not JSON/);
  });

  it('finds a session whose turn request was lost behind many sessions parked on purpose', async () => {
    const env = setup();
    const handled: string[] = [];
    // Pages of 2, four a sweep: ten parked sessions fill more than a sweep.
    startWorker(
      env,
      async (ctx) => {
        if (ctx.sessionKey.startsWith('parked')) throw new TurnParkedError('waiting for a person');
        handled.push(ctx.sessionKey);
      },
      { sweepPage: 2 },
    );
    for (let i = 0; i < 10; i++) await env.ingress.submit(msg(`parked${i}`, 'needs approval'));
    await new Promise((r) => setTimeout(r, 200));
    // Appended, but its turn request never made it (the producer died in between).
    await env.store.append(msg('lost', 'hello?'));
    await waitFor(() => handled.includes('lost'), { timeoutMs: 20_000 });
  });

  it('leaves a parked turn to whoever answers it: the sweep starts it again only once it has something to do', async () => {
    const env = setup();
    const runs = { quiet: 0, expiring: 0 };
    startWorker(env, async (ctx) => {
      const key = ctx.sessionKey as keyof typeof runs;
      runs[key] += 1;
      if (key === 'quiet') throw new TurnParkedError('waiting for a person');
      // Its approval expires in 3 s: then the turn goes on by itself (and tells the model).
      if (runs.expiring === 1) throw new TurnParkedError('waiting for a person', { untilMs: Date.now() + 3000 });
    });
    await env.ingress.submit(msg('quiet', 'needs approval'));
    await env.ingress.submit(msg('expiring', 'needs approval'));
    await waitFor(() => runs.expiring === 2, { timeoutMs: 20_000 });
    // Both were stale for the same sweeps (every 2 s here); the quiet one is left alone.
    await new Promise((r) => setTimeout(r, 2500));
    expect(runs.quiet).toBe(1);
  });

  it('does not pass over a session whose parked turn went on and finished: its next message is found by the sweep', async () => {
    const env = setup();
    const seen: string[] = [];
    let parkOnce = true;
    startWorker(env, async (ctx) => {
      seen.push(...ctx.messages.map((m) => m.text));
      if (parkOnce) {
        parkOnce = false;
        throw new TurnParkedError('waiting for a person');
      }
    });
    await env.ingress.submit(msg('answered', 'needs approval'));
    await waitFor(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    // The answer requests the turn again; it goes on and finishes.
    await env.turns.request('answered');
    await waitFor(() => seen.length === 2);
    await waitFor(async () => (await env.redis.xlen(env.store.keys.inbox('answered'))) === 0);
    // The next message's turn request is lost: only the sweep can find it.
    await env.store.append(msg('answered', 'and then?'));
    await waitFor(() => seen.includes('and then?'), { timeoutMs: 15_000 });
  });

  it('collects messages that arrive during a turn into the next turn, in order', async () => {
    const env = setup();
    const turnsSeen: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    startWorker(env, async (ctx) => {
      turnsSeen.push(ctx.messages.map((m) => m.text));
      if (turnsSeen.length === 1) await gate;
    });
    await env.ingress.submit(msg('c1', 'm1'));
    await waitFor(() => turnsSeen.length === 1);
    for (const t of ['m2', 'm3', 'm4']) await env.ingress.submit(msg('c1', t));
    release();
    await waitFor(() => turnsSeen.flat().length === 4);
    expect(turnsSeen).toEqual([['m1'], ['m2', 'm3', 'm4']]);
  });

  it('runs one turn per session at a time across workers and keeps FIFO order', async () => {
    const env = setup();
    const active = new Map<string, number>();
    let overlap = 0;
    const handled = new Map<string, string[]>();
    const handler = async (ctx: TurnContext) => {
      const n = (active.get(ctx.sessionKey) ?? 0) + 1;
      active.set(ctx.sessionKey, n);
      if (n > 1) overlap += 1;
      await new Promise((r) => setTimeout(r, 2));
      handled.set(ctx.sessionKey, [...(handled.get(ctx.sessionKey) ?? []), ...ctx.messages.map((m) => m.text)]);
      active.set(ctx.sessionKey, n - 1);
    };
    startWorker(env, handler, { concurrency: 10, maxBatch: 3 });
    startWorker(env, handler, { concurrency: 10, maxBatch: 3 });
    const sessions = Array.from({ length: 10 }, (_, i) => `f${i}`);
    await Promise.all(
      sessions.map(async (s) => {
        for (let i = 0; i < 15; i++) await env.ingress.submit(msg(s, `${i}`));
      }),
    );
    await waitFor(() => sessions.every((s) => handled.get(s)?.length === 15), { timeoutMs: 20_000 });
    expect(overlap).toBe(0);
    for (const s of sessions) expect(handled.get(s)).toEqual(Array.from({ length: 15 }, (_, i) => `${i}`));
  });

  it('runs exactly its concurrency of turns at once when that takes several BullMQ workers', async () => {
    const env = setup();
    let running = 0;
    let most = 0;
    let handled = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // 120 slots: three BullMQ workers of 40, each fetching on its own.
    const w = startWorker(
      env,
      async () => {
        running += 1;
        most = Math.max(most, running);
        await gate;
        running -= 1;
        handled += 1;
      },
      { concurrency: 120 },
    );
    expect(w.workers.map((x) => x.concurrency)).toEqual([40, 40, 40]);
    await Promise.all(Array.from({ length: 150 }, (_, i) => env.ingress.submit(msg(`k${i}`, 'x'))));
    await waitFor(() => running === 120, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300)); // none of the 30 left may start meanwhile
    expect(most).toBe(120);
    release();
    await waitFor(() => handled === 150, { timeoutMs: 10_000 });
    expect(most).toBe(120);
  });

  it("measures a turn's wait for its start from its request", async () => {
    const env = setup();
    const started: string[] = [];
    // One slot: b's turn is requested at once but waits for a's 300 ms turn to free it.
    startWorker(
      env,
      async (ctx) => {
        started.push(ctx.sessionKey);
        if (ctx.sessionKey === 'wa') await new Promise((r) => setTimeout(r, 300));
      },
      { concurrency: 1 },
    );
    await env.ingress.submit(msg('wa', 'x'));
    await waitFor(() => started.length === 1);
    await env.ingress.submit(msg('wb', 'y'));
    await waitFor(() => started.length === 2);
    const text = await env.registry.getSingleMetricAsString('switchboard_turn_wait_seconds');
    const total = (suffix: string) => Number(new RegExp(`^switchboard_turn_wait_seconds_${suffix} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(total('count')).toBe(2);
    expect(total('sum')).toBeGreaterThanOrEqual(0.25);
  });

  it('a fenced turn acknowledges nothing; the batch stays for the owner', async () => {
    const env = setup();
    let calls = 0;
    const texts: string[] = [];
    startWorker(env, async (ctx) => {
      calls += 1;
      if (calls === 1) throw new FencedError(ctx.sessionKey, 1);
      texts.push(...ctx.messages.map((m) => m.text));
    });
    await env.ingress.submit(msg('z1', 'kept'));
    await waitFor(() => calls === 1);
    // The fenced attempt left the batch claimed; the sweep (or the next request) resumes it.
    await env.turns.request('z1');
    await waitFor(() => texts.length === 1, { timeoutMs: 10_000 });
    expect(texts).toEqual(['kept']);
  });

  it('a turn that keeps failing is given up, the user is told, and the session moves on', async () => {
    const env = setup();
    const gaveUp: string[][] = [];
    const ok: string[] = [];
    const connection = createRedis(inject('redisUrl'));
    const w = createLaneWorker({
      connection, prefix: env.prefix, store: env.store, turns: env.turns, logger, registry: env.registry, leaseMs: 2000,
      handle: async (ctx) => {
        if (ctx.messages.some((m) => m.text === 'poison')) throw Object.assign(new Error('bad'), { retryable: false });
        ok.push(...ctx.messages.map((m) => m.text));
      },
      onGiveUp: async (ctx) => void gaveUp.push(ctx.messages.map((m) => m.text)),
      maxBatch: 1,
    });
    cleanups.push(async () => { await w.close(); connection.disconnect(); });
    await env.ingress.submit(msg('p1', 'poison'));
    await env.ingress.submit(msg('p1', 'fine'));
    await waitFor(() => ok.length === 1);
    expect(gaveUp).toEqual([['poison']]);
    expect(ok).toEqual(['fine']);
    expect(await env.redis.xlen(env.store.keys.deadLetters)).toBe(1);
  });
});

describe('ReplyPublisher', () => {
  it('keeps an approval prompt deduplicated for as long as the approval may stay pending', async () => {
    const env = setup();
    const notice = { id: 'appr-1', turnId: 't', sessionKey: 's', platform: 'telegram', account: 'a', chatId: 'c', tool: 'shell', arguments: {} };
    const queue = new Queue(outboundQueue('telegram').name, { connection: env.redis, prefix: env.prefix });
    cleanups.push(() => queue.close());
    const retention = async (approvalTimeoutMs: number, id: string) => {
      const publisher = new ReplyPublisher({ store: env.store, connection: env.redis, prefix: env.prefix, queuedPlatforms: ['telegram'], registry: env.registry, approvalTimeoutMs });
      cleanups.push(() => publisher.close());
      // The parked turn runs again and announces again: still one prompt.
      await publisher.announceApproval({ ...notice, id });
      await publisher.announceApproval({ ...notice, id });
      expect(await queue.getJobCountByTypes('waiting')).toBeGreaterThan(0);
      return (await queue.getJob(`ap-${id}`))!.opts.removeOnComplete;
    };
    // A day-long approval: the finished prompt is kept a day and a minute, not the queue's hour.
    expect(await retention(24 * 3600_000, 'day')).toEqual({ age: 24 * 3600 + 60 });
    expect(await retention(600_000, 'short')).toEqual({ age: outboundQueue('telegram').defaults.removeOnCompleteAgeSeconds });
    expect((await queue.getJobs(['waiting'])).map((j) => j.id).sort()).toEqual(['ap-day', 'ap-short']);
  });

  it('notes each queued reply and approval in its chat’s order, in enqueue order, once however often it is enqueued', async () => {
    const env = setup();
    const queue = new Queue(outboundQueue('telegram').name, { connection: env.redis, prefix: env.prefix });
    const publisher = new ReplyPublisher({ store: env.store, connection: env.redis, prefix: env.prefix, queuedPlatforms: ['telegram'], registry: env.registry });
    cleanups.push(async () => {
      await publisher.close();
      await queue.obliterate({ force: true });
      await queue.close();
    });
    const reply = (id: string, chatId: string, threadId?: string) => ({
      v: 1 as const, id, turnId: id, sessionKey: `telegram:bot:${chatId}`, platform: 'telegram', account: 'bot', chatId, text: id, inReplyTo: [], ...(threadId ? { threadId } : {}),
    });
    const keys = laneKeys(env.prefix);
    await publisher.deliver(reply('r1', 'c'));
    await publisher.announceApproval({ id: 'a1', turnId: 't', sessionKey: 'telegram:bot:c', platform: 'telegram', account: 'bot', chatId: 'c', tool: 'shell', arguments: {} });
    await publisher.deliver(reply('r2', 'c'));
    const first = await env.redis.zscore(keys.outboundOrder('telegram', 'c'), 'r1');
    // A resumed turn delivers its reply again: one job, and the reply keeps its place.
    await publisher.deliver(reply('r1', 'c'));
    await publisher.deliver(reply('t1', 'c', '7'));
    expect(await env.redis.zrange(keys.outboundOrder('telegram', 'c'), '0', '-1')).toEqual(['r1', 'ap-a1', 'r2']);
    expect(await env.redis.zscore(keys.outboundOrder('telegram', 'c'), 'r1')).toBe(first);
    expect(await env.redis.zrange(keys.outboundOrder('telegram', 'c', '7'), '0', '-1')).toEqual(['t1']);
    expect(await env.redis.ttl(keys.outboundOrder('telegram', 'c'))).toBeGreaterThan(23 * 3600);
    expect(await queue.getJobCountByTypes('waiting')).toBe(4);
    // A platform without an outbound queue (the web reads the event stream) keeps no order.
    await publisher.deliver({ ...reply('w1', 'c'), platform: 'web' });
    expect(await env.redis.exists(keys.outboundOrder('web', 'c'))).toBe(0);
  });
});
