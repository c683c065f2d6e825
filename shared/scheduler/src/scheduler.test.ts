import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import { createRedis, laneKeys, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import type { Registry } from 'prom-client';
import { ScheduleInputError, ScheduleLimitError, Scheduler } from './scheduler.ts';
import { nextCronRunMs } from './schema.ts';
import { createScheduleWorker, type ScheduleWorker } from './worker.ts';
import { RunAudit } from './run-audit.ts';
import type { ScheduleTarget } from './schema.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

interface Harness {
  prefix: string;
  redis: Redis;
  scheduler: Scheduler;
  ingress: LaneIngress;
  registry: Registry;
  workers: ScheduleWorker[];
  startWorker(opts?: { staleGraceMs?: number }): ScheduleWorker;
  cleanup(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const prefix = uniquePrefix('sched');
  const url = inject('redisUrl');
  const redis = createRedis(url, 'test');
  const store = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const registry = createRegistry({ defaultMetrics: false });
  const ingress = new LaneIngress(store, turns, registry);
  const scheduler = new Scheduler(redis, prefix);
  const connections: Redis[] = [];
  const workers: ScheduleWorker[] = [];
  return {
    prefix,
    redis,
    scheduler,
    ingress,
    registry,
    workers,
    startWorker(opts = {}) {
      const connection = createRedis(url, 'test-worker');
      connections.push(connection);
      const w = createScheduleWorker({ connection, prefix, scheduler, ingress, logger, registry, ...opts });
      workers.push(w);
      return w;
    },
    async cleanup() {
      await Promise.all(workers.map((w) => w.close()));
      await scheduler.queue.obliterate({ force: true });
      await scheduler.close();
      await turns.queue.obliterate({ force: true });
      await turns.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      for (const c of connections) c.disconnect();
      redis.disconnect();
    },
  };
}

function target(sessionId: string, account = 'acct1'): ScheduleTarget {
  const sessionKey = `web:${account}:${sessionId}`;
  return { v: 1, platform: 'web', sessionKey, account, chatId: sessionId, userId: `${account}/${sessionId}` };
}

async function inbox(h: Harness, sessionKey: string): Promise<InboundMessage[]> {
  const entries = await h.redis.xrange(laneKeys(h.prefix).inbox(sessionKey), '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('m') + 1]!) as InboundMessage);
}

async function runs(h: Harness, outcome: string): Promise<number> {
  const metric = await h.registry.getSingleMetric('switchboard_schedule_runs_total')!.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

describe('Scheduler input', () => {
  it('rejects bad input and creates nothing', async () => {
    const bad: unknown[] = [
      {},
      { sessionId: 's1', message: 'hi' },
      { sessionId: 's1', message: 'hi', everyMs: 999 },
      { sessionId: 's1', message: 'hi', everyMs: 1.5e3 + 0.5 },
      { sessionId: 's1', message: 'hi', everyMs: 1000, cron: '* * * * *' },
      { sessionId: 's1', message: 'hi', at: new Date(Date.now() - 1000).toISOString() },
      { sessionId: 's1', message: 'hi', at: 'tomorrow' },
      { sessionId: 's1', message: 'hi', cron: '61 * * * *' },
      { sessionId: 's1', message: 'hi', cron: '* * * *' },
      { sessionId: 's1', message: 'hi', cron: '@daily' },
      { sessionId: 's1', message: 'hi', cron: '0 0 31 4,6 *' },
      { sessionId: 's1', message: 'hi', cron: '0 0 30 2 *' },
      { sessionId: 's1', message: 'hi', cron: '0 9 * * *', timezone: 'Mars/Olympus' },
      { sessionId: 's1', message: 'hi', everyMs: 1000, timezone: 'Europe/Berlin' },
      { sessionId: 'bad:id', message: 'hi', everyMs: 1000 },
      { sessionId: 's1', message: '', everyMs: 1000 },
      { sessionId: 's1', message: ' \n\t ', everyMs: 1000 },
      { sessionId: 's1', message: 'hi', everyMs: 1000, missedRuns: 'all' },
      { sessionId: 's1', message: 'hi', everyMs: 1000, extra: true },
    ];
    for (const input of bad) {
      await expect(h.scheduler.create('acct1', input, target('s1')), JSON.stringify(input)).rejects.toBeInstanceOf(ScheduleInputError);
    }
    expect(await h.scheduler.list('acct1')).toEqual([]);
    expect(await h.scheduler.queue.getJobSchedulersCount()).toBe(0);
    expect(await h.scheduler.queue.count()).toBe(0);
  });

  it('accepts cron with a time zone and computes its next run in that zone', async () => {
    const created = await h.scheduler.create('acct1', { sessionId: 's1', message: 'standup', cron: '30 9 * * 1-5', timezone: 'America/New_York' }, target('s1'));
    expect(created.id).toMatch(/^sch_[a-f0-9]{20}$/);
    const [view] = await h.scheduler.list('acct1');
    expect(view).toMatchObject({ id: created.id, cron: '30 9 * * 1-5', timezone: 'America/New_York', missedRuns: 'skip' });
    const next = new Date(view!.nextRunAt!);
    const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', minute: 'numeric', weekday: 'short', hourCycle: 'h23' }).format(next);
    expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:30$/);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    // A fixed instant: 2025-01-06 (a Monday) 00:00 UTC is still Sunday in New York → Monday 09:30 EST = 14:30 UTC.
    expect(new Date(nextCronRunMs('30 9 * * 1-5', 'America/New_York', Date.parse('2025-01-06T00:00:00Z'))).toISOString()).toBe('2025-01-06T14:30:00.000Z');
    // Six fields (seconds first) are accepted too.
    await h.scheduler.create('acct1', { sessionId: 's1', message: 'x', cron: '*/10 * * * * *' }, target('s1'));
    expect(await h.scheduler.queue.getJobSchedulersCount()).toBe(2);
  });

  it('lists per account and deletes only the owner’s schedules', async () => {
    const a = await h.scheduler.create('acct1', { sessionId: 's1', message: 'a', everyMs: 60_000 }, target('s1'));
    const b = await h.scheduler.create('acct2', { sessionId: 's1', message: 'b', everyMs: 60_000 }, target('s1', 'acct2'));
    expect((await h.scheduler.list('acct1')).map((s) => s.id)).toEqual([a.id]);
    expect(await h.scheduler.delete('acct1', b.id)).toBe(false);
    expect(await h.scheduler.delete('acct1', 'sch_00000000000000000000')).toBe(false);
    expect(await h.scheduler.delete('acct1', a.id)).toBe(true);
    expect(await h.scheduler.list('acct1')).toEqual([]);
    expect((await h.scheduler.list('acct2')).map((s) => s.id)).toEqual([b.id]);
    expect((await h.scheduler.queue.getJobSchedulers()).map((s) => s.key)).toEqual([b.id]);
  });
});

describe('schedule limits', () => {
  it('caps schedules per conversation (isolated run sessions included) and per account, atomically, creating nothing past a limit', async () => {
    const limited = new Scheduler(h.redis, h.prefix, { perConversation: 3, perAccount: 5 });
    const every = (sessionId: string) => ({ sessionId, message: 'ping', everyMs: 60_000 });
    // Ten at once into one conversation: exactly three get in, however they interleave.
    const tries = await Promise.allSettled(Array.from({ length: 10 }, () => limited.create('acct1', every('s1'), target('s1'))));
    expect(tries.filter((t) => t.status === 'fulfilled')).toHaveLength(3);
    for (const t of tries) if (t.status === 'rejected') expect(t.reason).toBeInstanceOf(ScheduleLimitError);
    expect(await limited.list('acct1')).toHaveLength(3);
    expect(await limited.queue.getJobSchedulersCount()).toBe(3);
    // A schedule run in an isolated session made from the conversation counts as the conversation's.
    const isolated = { ...target('s1'), sessionKey: 'web:acct1:s1:sched=abc123' };
    await expect(limited.create('acct1', every('s1'), isolated)).rejects.toThrow(/this conversation has 3 schedules/);
    // Deleting one makes room again.
    const [first] = await limited.list('acct1');
    expect(await limited.delete('acct1', first!.id)).toBe(true);
    await limited.create('acct1', every('s1'), isolated);
    // Other conversations of the account fill up to the account's limit.
    await limited.create('acct1', every('s2'), target('s2'));
    await limited.create('acct1', every('s3'), target('s3'));
    await expect(limited.create('acct1', every('s4'), target('s4'))).rejects.toThrow(/this account has 5 schedules/);
    // Another account is not affected.
    await limited.create('acct2', every('s1'), target('s1', 'acct2'));
    expect(await limited.list('acct1')).toHaveLength(5);
    expect(await limited.queue.getJobSchedulersCount()).toBe(6);
    // A refused create left no record behind.
    expect(await h.redis.keys(`${h.prefix}:schedule:*`)).toHaveLength(6);
    await limited.close();
  });
});

describe('schedule limits after an upgrade', () => {
  it('notes schedules made before conversations had an index, once, so they count toward the limit', async () => {
    const limited = new Scheduler(h.redis, h.prefix, { perConversation: 3, perAccount: 100 });
    const every = { sessionId: 's1', message: 'ping', everyMs: 60_000 };
    const made = [await limited.create('acct1', every, target('s1')), await limited.create('acct1', every, target('s1'))];
    // As an older version left them: records and account index, no conversation index.
    const conversation = `${h.prefix}:schedules:conversation:web:acct1:s1`;
    expect(await h.redis.zcard(conversation)).toBe(2);
    await h.redis.del(conversation);
    await h.redis.set(`${h.prefix}:schedule:sch_garbage`, '{not json');
    expect(await limited.indexConversations()).toBe(2);
    expect(await h.redis.zrange(conversation, '0', '-1')).toEqual(expect.arrayContaining(made.map((m) => m.id)));
    await limited.create('acct1', every, target('s1'));
    await expect(limited.create('acct1', every, target('s1'))).rejects.toBeInstanceOf(ScheduleLimitError);
    // Done once: a later start notes nothing (and does not walk the schedules again).
    await h.redis.del(conversation);
    expect(await limited.indexConversations()).toBe(0);
    expect(await h.redis.zcard(conversation)).toBe(0);
    await limited.close();
  });
});

describe('schedule worker', () => {
  it('fires an every-N schedule on time, repeatedly, as system events', async () => {
    h.startWorker();
    const created = Date.now();
    const s = await h.scheduler.create('acct1', { sessionId: 'e1', message: 'tick', everyMs: 1000 }, target('e1'));
    const msgs = await waitFor(async () => {
      const m = await inbox(h, s.sessionKey);
      return m.length >= 3 ? m : undefined;
    }, { timeoutMs: 8000 });
    expect(msgs.every((m) => m.kind === 'system_event' && m.text === 'tick' && m.account === 'acct1' && m.chatId === 'e1')).toBe(true);
    // First run one interval after creation, then about one per second.
    expect(msgs[0]!.receivedAtMs - created).toBeGreaterThanOrEqual(900);
    for (let i = 1; i < 3; i++) {
      const gap = msgs[i]!.receivedAtMs - msgs[i - 1]!.receivedAtMs;
      expect(gap).toBeGreaterThan(500);
      expect(gap).toBeLessThan(1800);
    }
    // The metric and the audit stream are written just after the message goes in: wait for them.
    await waitFor(async () => (await runs(h, 'delivered')) >= 3, { timeoutMs: 3000, message: 'three delivered runs counted' });
    await waitFor(async () => (await h.redis.xlen(`${h.prefix}:schedules:runs:acct1`)) >= 3, { timeoutMs: 3000, message: 'three runs audited' });
    // Deleting stops it.
    await h.scheduler.delete('acct1', s.id);
    const count = (await inbox(h, s.sessionKey)).length;
    await new Promise((r) => setTimeout(r, 2200));
    expect((await inbox(h, s.sessionKey)).length).toBeLessThanOrEqual(count + 1);
  });

  it('fires a one-shot once at its time and removes it', async () => {
    h.startWorker();
    const at = Date.now() + 700;
    const s = await h.scheduler.create('acct1', { sessionId: 'o1', message: 'once', at: new Date(at).toISOString() }, target('o1'));
    expect((await h.scheduler.list('acct1')).map((x) => x.id)).toEqual([s.id]);
    const [msg] = await waitFor(async () => {
      const m = await inbox(h, s.sessionKey);
      return m.length ? m : undefined;
    });
    expect(msg!.text).toBe('once');
    expect(msg!.receivedAtMs).toBeGreaterThanOrEqual(at);
    await waitFor(async () => (await h.scheduler.list('acct1')).length === 0);
    expect(await h.scheduler.get(s.id)).toBeUndefined();
    expect(await h.scheduler.queue.getDelayedCount()).toBe(0);
    expect((await inbox(h, s.sessionKey)).length).toBe(1);
  });

  it('keeps each account’s runs apart, so a busy account cannot push another’s history out; the older shared trail is still read', async () => {
    const audit = new RunAudit(h.redis, h.prefix);
    // An entry of the trail all accounts shared before.
    await h.redis.xadd(`${h.prefix}:schedules:runs`, '*', 'kind', 'schedule', 'source', 'old', 'account', 'acct1', 'outcome', 'delivered', 'firingMs', '1', 'atMs', '1');
    await audit.record({ kind: 'hook', source: 'mine', account: 'acct1', outcome: 'delivered', firingMs: 2 });
    // Another account's flood, past the cap of one trail.
    for (let batch = 0; batch < 21; batch++) {
      await Promise.all(Array.from({ length: 500 }, () => audit.record({ kind: 'hook', source: 'noise', account: 'noisy', outcome: 'delivered', firingMs: 3 })));
    }
    expect((await audit.list({ account: 'acct1' })).map((r) => r.source)).toEqual(['mine', 'old']);
    expect((await audit.list({ account: 'noisy', limit: 1 })).map((r) => r.source)).toEqual(['noise']);
  }, 30_000);

  it('forgets a one-shot whose firing failed for good, and records the failure in the audit trail', async () => {
    const w = h.startWorker();
    const s = await h.scheduler.create('acct1', { sessionId: 'o2', message: 'never delivered', at: new Date(Date.now() + 3_600_000).toISOString() }, target('o2'));
    const [job] = await h.scheduler.queue.getDelayed();
    // Its last attempt failed (delivery kept failing; attempts and backoff take ~15 s to run out for real).
    job!.attemptsMade = job!.opts.attempts ?? 5;
    w.worker.emit('failed', job!, new Error('the lane is unreachable'), 'active');
    await waitFor(async () => (await h.scheduler.get(s.id)) === undefined);
    expect(await h.scheduler.list('acct1')).toEqual([]);
    const trail = await new RunAudit(h.redis, h.prefix).list({ account: 'acct1', kind: 'schedule' });
    expect(trail).toEqual([expect.objectContaining({ source: s.id, outcome: 'failed', sessionKey: s.sessionKey })]);
  });

  it('delivers each firing exactly once with two worker replicas', async () => {
    h.startWorker();
    h.startWorker();
    const s = await h.scheduler.create('acct1', { sessionId: 'r1', message: 'replicated', everyMs: 1000 }, target('r1'));
    await waitFor(async () => (await runs(h, 'delivered')) >= 4, { timeoutMs: 10_000 });
    await h.scheduler.delete('acct1', s.id);
    await Promise.all(h.workers.map((w) => w.close()));
    const msgs = await inbox(h, s.sessionKey);
    const audit = await h.redis.xrange(`${h.prefix}:schedules:runs:acct1`, '-', '+');
    const firings = audit.map(([, f]) => f[f.indexOf('firingMs') + 1]!).filter((_, i) => audit[i]![1].includes('delivered'));
    expect(new Set(firings).size).toBe(firings.length);
    expect(msgs.length).toBe(firings.length);
  });

  it('delivers once when the same job is processed twice (restart mid-run)', async () => {
    const w = h.startWorker();
    await w.worker.pause();
    const s = await h.scheduler.create('acct1', { sessionId: 'd1', message: 'dup', everyMs: 1000 }, target('d1'));
    const [job] = await waitFor(async () => {
      const jobs = await h.scheduler.queue.getJobs(['delayed', 'waiting']);
      return jobs.length ? jobs : undefined;
    });
    expect(job!.id).toMatch(new RegExp(`^repeat:${s.id}:\\d+$`));
    const fresh = (await Job.fromId(h.scheduler.queue, job!.id!))!;
    expect(await w.process(fresh)).toBe('delivered');
    expect(await w.process(fresh)).toBe('duplicate');
    expect((await inbox(h, s.sessionKey)).length).toBe(1);
  });

  it('skips a stale firing under policy skip and runs one catch-up under run_once', async () => {
    const w = h.startWorker({ staleGraceMs: 1000 });
    await w.worker.pause();
    const skip = await h.scheduler.create('acct1', { sessionId: 'm1', message: 'skip me', everyMs: 1000 }, target('m1'));
    const once = await h.scheduler.create('acct1', { sessionId: 'm2', message: 'catch up', everyMs: 1000, missedRuns: 'run_once' }, target('m2'));
    const stale = { id: undefined, timestamp: Date.now() - 3_600_000, opts: {}, attemptsMade: 0 };
    const fake = (scheduleId: string, firingMs: number) => ({ ...stale, id: `repeat:${scheduleId}:${firingMs}`, data: { v: 1, scheduleId } }) as unknown as Job;
    const oldMs = Date.now() - 3_600_000;
    expect(await w.process(fake(skip.id, oldMs))).toBe('skipped_stale');
    expect(await w.process(fake(once.id, oldMs))).toBe('delivered');
    // Late because it was already started (its worker died mid-run, or a delivery is retried), not missed: delivered.
    const stalled = { ...fake(skip.id, oldMs + 1000), stalledCounter: 1, attemptsStarted: 2 } as unknown as Job;
    const retried = { ...fake(skip.id, oldMs + 2000), attemptsMade: 1, attemptsStarted: 2 } as unknown as Job;
    expect(await w.process(stalled)).toBe('delivered');
    expect(await w.process(retried)).toBe('delivered');
    expect((await inbox(h, skip.sessionKey)).map((m) => m.text)).toEqual(['skip me', 'skip me']);
    expect((await inbox(h, once.sessionKey)).map((m) => m.text)).toEqual(['catch up']);
  });
});
