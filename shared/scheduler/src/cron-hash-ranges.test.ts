import { defaultRepeatStrategy } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { CreateScheduleInput } from './schema.ts';

// cron-parser replaces an `H` anywhere in a field (a range's end, a step), not only at a field's or
// list item's start: `*/H` is "every H minutes", H drawn anew at each of BullMQ's parses.
describe('cron with H inside a range or a step', () => {
  it('is a different next firing at each parse (what the refusal is for)', () => {
    const at = Date.parse('2026-01-01T00:00:30Z');
    // (A draw of 0 even fails the parse: "cannot repeat at every 0 time".)
    const next = new Set<number | string | undefined>();
    for (let i = 0; i < 40; i++) {
      try {
        next.add(defaultRepeatStrategy(at, { pattern: '*/H * * * *', tz: 'UTC' }));
      } catch (err) {
        next.add((err as Error).message);
      }
    }
    expect(next.size).toBeGreaterThan(1);
  });

  it('is refused', () => {
    for (const cron of ['*/H * * * *', '0-H * * * *', '0 0 1-H * *', '0 9 * * 1-H', '5/H * * * *']) {
      expect(CreateScheduleInput.safeParse({ sessionId: 's1', message: 'x', cron }).success, cron).toBe(false);
    }
    for (const cron of ['0 9 * * THU', '0 9 * * thu,fri', '0 9 * * MON-THU', '30 9 * * 1-5', '0 0 1 MAR *']) {
      expect(CreateScheduleInput.safeParse({ sessionId: 's1', message: 'x', cron }).success, cron).toBe(true);
    }
  });
});
