import { defaultRepeatStrategy } from 'bullmq';
import { describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { uniquePrefix } from '@switchboard/testkit';
import { ScheduleInputError, Scheduler } from './scheduler.ts';
import { CreateScheduleInput, type ScheduleTarget } from './schema.ts';

/**
 * cron-parser reads `H` as a hashed value, and without a seed it draws a new random one at every
 * parse. BullMQ parses the pattern afresh for every iteration (from the firing that just ran), so
 * a schedule `H * * * *` ("hourly, at some minute") fires at a different minute each time: twice
 * in one hour whenever the next draw is later than the last, and at none of the minutes the
 * schedule list shows. Such a schedule must be refused, like `@daily`.
 */
describe('cron with H', () => {
  it('is what BullMQ would fire twice within one hour', () => {
    const firings: number[] = [];
    let at = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 48; i++) {
      at = defaultRepeatStrategy(at, { pattern: 'H * * * *', tz: 'UTC' })!;
      firings.push(at);
    }
    const perHour = new Map<number, number>();
    for (const f of firings) perHour.set(Math.floor(f / 3_600_000), (perHour.get(Math.floor(f / 3_600_000)) ?? 0) + 1);
    expect(Math.max(...perHour.values())).toBeGreaterThan(1);
  });

  it('is refused, and creates nothing; names that contain an H are still accepted', async () => {
    const redis = createRedis(inject('redisUrl'), 'probe');
    const scheduler = new Scheduler(redis, uniquePrefix('cronhash'));
    const target: ScheduleTarget = { v: 1, platform: 'web', sessionKey: 'web:acct1:s1', account: 'acct1', chatId: 's1', userId: 'acct1/s1' };
    try {
      for (const cron of ['H * * * *', 'H H * * *', 'H/15 * * * *', '0 0 H * *', '1,H * * * *', 'H(0-29) * * * *', '0 0 * * HL', 'H * * * * *']) {
        expect(CreateScheduleInput.safeParse({ sessionId: 's1', message: 'x', cron }).success, cron).toBe(false);
        await expect(scheduler.create('acct1', { sessionId: 's1', message: 'x', cron }, target), cron).rejects.toBeInstanceOf(ScheduleInputError);
      }
      expect(await scheduler.list('acct1')).toEqual([]);
      expect(await scheduler.queue.getJobSchedulersCount()).toBe(0);
      for (const cron of ['0 9 * * THU', '0 9 * * thu,fri', '30 9 * * 1-5']) {
        expect(CreateScheduleInput.safeParse({ sessionId: 's1', message: 'x', cron }).success, cron).toBe(true);
      }
    } finally {
      await scheduler.queue.obliterate({ force: true });
      await scheduler.close();
      redis.disconnect();
    }
  });
});
