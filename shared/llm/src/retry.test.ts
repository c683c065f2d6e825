import { describe, expect, it } from 'vitest';
import { backoffDelayMs, parseRetryAfterMs, sleep } from './retry.ts';

const headers = (h: Record<string, string>) => new Headers(h);

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds, HTTP dates and retry-after-ms (which wins)', () => {
    expect(parseRetryAfterMs(headers({ 'retry-after': '2' }), now)).toBe(2_000);
    expect(parseRetryAfterMs(headers({ 'retry-after': '0.25' }), now)).toBe(250);
    expect(parseRetryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3_000);
    expect(parseRetryAfterMs(headers({ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfterMs(headers({ 'retry-after': '5', 'retry-after-ms': '120' }), now)).toBe(120);
  });

  it('ignores missing or garbage values', () => {
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
    expect(parseRetryAfterMs(headers({}))).toBeUndefined();
    expect(parseRetryAfterMs(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfterMs(headers({ 'retry-after-ms': '-1', 'retry-after': '1' }), now)).toBe(1_000);
  });
});

describe('backoffDelayMs', () => {
  it('doubles per retry up to the cap, with at most 25% jitter taken off', () => {
    expect(backoffDelayMs(0, 500, 8_000, () => 0)).toBe(500);
    expect(backoffDelayMs(3, 500, 8_000, () => 0)).toBe(4_000);
    expect(backoffDelayMs(10, 500, 8_000, () => 0)).toBe(8_000);
    expect(backoffDelayMs(1, 500, 8_000, () => 1)).toBe(750);
  });
});

describe('sleep', () => {
  it('rejects with an AbortError as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const pending = sleep(10_000, controller.signal);
    controller.abort(new Error('shutdown'));
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', cause: new Error('shutdown') });
  });
});
