export { Scheduler, ScheduleInputError, ScheduleLimitError, DEFAULT_SCHEDULE_LIMITS, deliveryTargetOf, oneShotJobId } from './scheduler.ts';
export type { ScheduleLimits, ScheduleView } from './scheduler.ts';
export { createScheduleWorker, firingTimeMs, DEFAULT_STALE_GRACE_MS } from './worker.ts';
export { RunAudit, RUN_AUDIT_MAX_LEN } from './run-audit.ts';
export type { RunEntry, RunKind, RunRecord } from './run-audit.ts';
export type { ScheduleWorker, ScheduleWorkerOptions } from './worker.ts';
export {
  CreateScheduleInput,
  DeliverInput,
  DELIVERY_CHANNELS,
  MissedRunPolicy,
  ScheduleId,
  ScheduleJob,
  ScheduleRecord,
  ScheduleSpec,
  ScheduleTarget,
  SCHEDULE_QUEUE,
  MIN_EVERY_MS,
  MAX_EVERY_MS,
  isValidTimeZone,
  nextCronRunMs,
  parseCron,
} from './schema.ts';
export type { ValidScheduleInput } from './schema.ts';
export { conversationOf, scheduleKeys } from './keys.ts';
export type { ScheduleKeys } from './keys.ts';
export { scheduleMetrics } from './metrics.ts';
export type { ScheduleMetrics, ScheduleRunOutcome } from './metrics.ts';
