import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { LaneIngress } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import { RunAudit } from './run-audit.ts';
import { scheduleMetrics, type ScheduleRunOutcome } from './metrics.ts';
import { ScheduleJob, SCHEDULE_QUEUE } from './schema.ts';
import type { Scheduler } from './scheduler.ts';

/** A firing older than this (ms) counts as missed while the system was down (default 60 s). */
export const DEFAULT_STALE_GRACE_MS = 60_000;

export interface ScheduleWorkerOptions {
  /** Connection for the BullMQ worker; must have `maxRetriesPerRequest: null`. */
  connection: Redis;
  prefix: string;
  scheduler: Scheduler;
  ingress: LaneIngress;
  logger: Logger;
  registry: Registry;
  /** Firings processed at once (default 10). */
  concurrency?: number;
  /** See `DEFAULT_STALE_GRACE_MS`. */
  staleGraceMs?: number;
}

export interface ScheduleWorker {
  worker: Worker;
  /** Runs one firing; what the BullMQ worker calls (exported for tests of redelivery). */
  process(job: Job): Promise<ScheduleRunOutcome>;
  close(): Promise<void>;
}

/**
 * When the firing was due (epoch ms). Job-scheduler jobs have ids `repeat:<schedulerId>:<millis>`
 * (BullMQ's own rule, stable across redeliveries); one-shots carry `atMs`.
 */
export function firingTimeMs(job: Pick<Job, 'id' | 'timestamp' | 'opts'>, data: ScheduleJob): number {
  if (data.atMs !== undefined) return data.atMs;
  const match = /:(\d+)$/.exec(job.id ?? '');
  if (match) return Number(match[1]);
  return job.timestamp + (job.opts.delay ?? 0);
}

/**
 * Consumes the `schedules` queue. Each firing submits the schedule's message into its session as
 * a `system_event` through `LaneIngress`, with the dedupe key `sched-<id>-<firing ms>`: however
 * many replicas run and however often a job is redelivered, a firing is delivered once. Each run
 * is counted in `switchboard_schedule_runs_total{outcome}` and written to the audit trail of runs
 * ({@link RunAudit}, shared with heartbeats and hooks).
 */
export function createScheduleWorker(opts: ScheduleWorkerOptions): ScheduleWorker {
  const metrics = scheduleMetrics(opts.registry);
  const audit = new RunAudit(opts.scheduler.redis, opts.prefix);
  const graceMs = opts.staleGraceMs ?? DEFAULT_STALE_GRACE_MS;

  const record = async (
    scheduleId: string,
    account: string,
    firingMs: number,
    outcome: ScheduleRunOutcome,
    extra: { sessionKey?: string; messageId?: string } = {},
  ): Promise<ScheduleRunOutcome> => {
    metrics.runs.inc({ outcome });
    await audit.record({ kind: 'schedule', source: scheduleId, account, firingMs, outcome, ...extra });
    return outcome;
  };

  const process = async (job: Job): Promise<ScheduleRunOutcome> => {
    const parsed = ScheduleJob.safeParse(job.data);
    if (!parsed.success) {
      metrics.runs.inc({ outcome: 'invalid' });
      opts.logger.error({ queue: SCHEDULE_QUEUE.name, jobId: job.id, issues: parsed.error.issues }, 'invalid schedule job payload');
      throw new UnrecoverableError('invalid schedule job payload');
    }
    const data = parsed.data;
    const firingMs = firingTimeMs(job, data);
    const log = opts.logger.child({ queue: SCHEDULE_QUEUE.name, jobId: job.id, scheduleId: data.scheduleId });
    const schedule = await opts.scheduler.get(data.scheduleId);
    if (!schedule) {
      // Deleted (or its metadata lost): make sure nothing keeps firing for it.
      if (data.atMs === undefined) await opts.scheduler.queue.removeJobScheduler(data.scheduleId);
      return record(data.scheduleId, '', firingMs, 'cancelled');
    }
    const oneShot = schedule.spec.kind === 'at';
    const lateMs = Date.now() - firingMs;
    let outcome: ScheduleRunOutcome;
    let messageId = '';
    // Only a firing this system is seeing for the first time can have been missed while it was
    // down. One it already started (a worker killed mid-run, its job stalled and handed on; a
    // delivery retried) is late because of that, not missed: it is delivered.
    const firstSight = job.attemptsMade === 0 && (job.stalledCounter ?? 0) === 0 && (job.attemptsStarted ?? 1) <= 1;
    if (firstSight && lateMs > graceMs && schedule.missedRuns === 'skip') {
      log.info({ lateMs }, 'skipping a firing missed while the system was down');
      outcome = 'skipped_stale';
    } else {
      try {
        const result = await opts.ingress.submit(
          { ...schedule.target, kind: 'system_event', text: schedule.message, receivedAtMs: Date.now(), ...(schedule.deliverTo ? { deliverTo: schedule.deliverTo } : {}) },
          `sched-${schedule.id}-${firingMs}`,
        );
        outcome = result.duplicate ? 'duplicate' : 'delivered';
        messageId = result.messageId;
      } catch (err) {
        metrics.runs.inc({ outcome: 'failed' });
        log.warn({ err, attempt: job.attemptsMade + 1 }, 'schedule delivery failed; will retry');
        throw err;
      }
    }
    if (oneShot) {
      await opts.scheduler.forget(schedule);
    }
    return record(schedule.id, schedule.account, firingMs, outcome, { sessionKey: schedule.sessionKey, ...(messageId ? { messageId } : {}) });
  };

  const worker = new Worker(SCHEDULE_QUEUE.name, process, { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency ?? 10 });
  worker.on('failed', (job, err) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    opts.logger.error({ queue: SCHEDULE_QUEUE.name, jobId: job.id, err }, 'schedule firing failed for good');
    void failedForGood(job).catch((cleanupErr: unknown) => opts.logger.warn({ err: cleanupErr, jobId: job.id }, 'could not record a failed schedule firing'));
  });
  /** A firing out of attempts: in the audit trail as `failed`, and a one-shot's record goes (it will not fire again). */
  async function failedForGood(job: Job): Promise<void> {
    const parsed = ScheduleJob.safeParse(job.data);
    if (!parsed.success) return;
    const schedule = await opts.scheduler.get(parsed.data.scheduleId);
    if (!schedule) return;
    if (schedule.spec.kind === 'at') await opts.scheduler.forget(schedule);
    await audit.record({ kind: 'schedule', source: schedule.id, account: schedule.account, firingMs: firingTimeMs(job, parsed.data), outcome: 'failed', sessionKey: schedule.sessionKey });
  }
  worker.on('error', (err) => opts.logger.error({ queue: SCHEDULE_QUEUE.name, err }, 'schedule worker error'));
  return {
    worker,
    process,
    async close() {
      await worker.close();
    },
  };
}
