/** Redis keys of the schedule metadata, under the deployment's prefix. */
export interface ScheduleKeys {
  /** String: one schedule's record (JSON). */
  schedule(id: string): string;
  /** Sorted set: an account's schedule ids, scored by creation time (ms). */
  account(account: string): string;
  /** Capped stream: the audit trail of runs (delivered, skipped, failed). */
  runs: string;
}

export function scheduleKeys(prefix: string): ScheduleKeys {
  return {
    schedule: (id) => `${prefix}:schedule:${id}`,
    account: (account) => `${prefix}:schedules:account:${account}`,
    runs: `${prefix}:schedules:runs`,
  };
}
