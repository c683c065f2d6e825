import { Queue } from 'bullmq';
import { describe, expect, inject, it } from 'vitest';
import { createRedis, type LaneIngress } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { heartbeatQueueName, parseHeartbeat, startHeartbeat, withinActiveHours } from './heartbeat.ts';

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
    // A window that starts where it ends would never be active (and log "inactive" every period).
    expect(() => parseHeartbeat('{"sessionId":"s","everyMs":5000,"activeHours":"08:00-08:00"}')).toThrow(/activeHours must not start and end at the same time/);
    expect(parseHeartbeat(undefined)).toBeUndefined();
    expect(parseHeartbeat('{"sessionId":"s","everyMs":5000}')).toMatchObject({ maxTokens: 200, timezone: 'UTC', account: 'local' });
  });
});

describe('heartbeat firings', () => {
  it('skips a firing outside the active hours when it runs, one later than a period, and never runs another agent’s', async () => {
    const redis = createRedis(inject('redisUrl'));
    const prefix = uniquePrefix('hb');
    const submitted: string[] = [];
    const ingress = { busy: async () => false, submit: async (_m: unknown, key: string) => (submitted.push(key), { messageId: key, duplicate: false, lastEventId: '0-0' }) } as unknown as LaneIngress;
    const now = Date.now();
    const hour = (ms: number) => new Date(ms).toISOString().slice(11, 13);
    // Active for the hour two hours ago only: a firing due then, run now, is outside.
    const activeHours = `${hour(now - 2 * 3600_000)}:00-${hour(now - 3600_000)}:00`;
    const start = (config: Record<string, unknown>, agentName: string) =>
      startHeartbeat({
        config: parseHeartbeat(JSON.stringify({ sessionId: 's', everyMs: 3600_000, ...config }))!,
        agentName, connection: redis, blocking: createRedis(inject('redisUrl')), prefix, ingress, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }),
      });
    const windowed = await start({ activeHours }, 'windowed');
    const plain = await start({}, 'plain');
    try {
      // Due half past the hour two hours ago: inside the window then, outside it now.
      const dueMs = now - (now % 3600_000) - 2 * 3600_000 + 1800_000;
      const due = (agent: string) => `repeat:heartbeat-${agent}:${dueMs}`;
      const q = (agent: string) => new Queue(heartbeatQueueName(agent), { connection: redis, prefix });
      const [qw, qp, qo] = [q('windowed'), q('plain'), q('gone')];
      await qw.add('heartbeat', {}, { jobId: due('windowed') });
      await qp.add('heartbeat', {}, { jobId: due('plain') });
      // A renamed agent's leftover firing: on its own queue, which nobody here consumes.
      await qo.add('heartbeat', {}, { jobId: due('gone') });
      await waitFor(async () => (await qw.getJobState(due('windowed'))) === 'completed' && (await qp.getJobState(due('plain'))) === 'completed');
      expect((await qw.getJob(due('windowed')))!.returnvalue).toBe('inactive');
      expect((await qp.getJob(due('plain')))!.returnvalue).toBe('skipped_stale');
      expect(await qo.getJobState(due('gone'))).toBe('waiting');
      expect(submitted).toEqual([]);
      await Promise.all([qw.close(), qp.close(), qo.close()]);
    } finally {
      await windowed.close();
      await plain.close();
      redis.disconnect();
    }
  });
});
