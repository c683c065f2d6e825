import type { Counter, Registry } from 'prom-client';
import { counter } from '@switchboard/observability';

/**
 * Outcomes of a firing: `delivered`, `duplicate` (this firing was already delivered: a redelivered
 * job or another replica), `skipped_stale` (missed while down, policy `skip`), `cancelled` (the
 * schedule was deleted), `failed` (will be retried), `invalid` (bad job payload).
 */
export type ScheduleRunOutcome = 'delivered' | 'duplicate' | 'skipped_stale' | 'cancelled' | 'failed' | 'invalid';

export interface ScheduleMetrics {
  runs: Counter<'outcome'>;
}

export function scheduleMetrics(registry: Registry): ScheduleMetrics {
  return {
    runs: counter(registry, { name: 'switchboard_schedule_runs_total', help: 'Schedule firings by outcome', labelNames: ['outcome'] as const }),
  };
}
