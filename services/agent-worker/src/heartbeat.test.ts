import { describe, expect, it } from 'vitest';
import { parseHeartbeat, withinActiveHours } from './heartbeat.ts';

describe('withinActiveHours', () => {
  const at = (iso: string) => Date.parse(iso);
  it('checks the window in the given time zone', () => {
    expect(withinActiveHours(at('2026-06-01T07:30:00Z'), '08:00-22:00', 'UTC')).toBe(false);
    expect(withinActiveHours(at('2026-06-01T08:00:00Z'), '08:00-22:00', 'UTC')).toBe(true);
    expect(withinActiveHours(at('2026-06-01T21:59:00Z'), '08:00-22:00', 'UTC')).toBe(true);
    expect(withinActiveHours(at('2026-06-01T22:00:00Z'), '08:00-22:00', 'UTC')).toBe(false);
    // 07:30 UTC is 09:30 in Berlin in summer.
    expect(withinActiveHours(at('2026-06-01T07:30:00Z'), '08:00-22:00', 'Europe/Berlin')).toBe(true);
  });
  it('handles windows that wrap past midnight, and no window', () => {
    expect(withinActiveHours(at('2026-06-01T23:30:00Z'), '22:00-06:00', 'UTC')).toBe(true);
    expect(withinActiveHours(at('2026-06-01T05:59:00Z'), '22:00-06:00', 'UTC')).toBe(true);
    expect(withinActiveHours(at('2026-06-01T12:00:00Z'), '22:00-06:00', 'UTC')).toBe(false);
    expect(withinActiveHours(at('2026-06-01T12:00:00Z'), undefined, 'UTC')).toBe(true);
  });
});

describe('parseHeartbeat', () => {
  it('rejects bad settings naming HEARTBEAT', () => {
    expect(() => parseHeartbeat('{')).toThrow(/HEARTBEAT/);
    expect(() => parseHeartbeat('{"sessionId":"s","everyMs":5000,"activeHours":"25:00-26:00"}')).toThrow(/HEARTBEAT: activeHours/);
    expect(() => parseHeartbeat('{"sessionId":"s","everyMs":5000,"timezone":"Mars/Base"}')).toThrow(/timezone/);
    expect(parseHeartbeat(undefined)).toBeUndefined();
    expect(parseHeartbeat('{"sessionId":"s","everyMs":5000}')).toMatchObject({ maxTokens: 200, timezone: 'UTC', account: 'local' });
  });
});
