/** Redis keys of the schedule metadata, under the deployment's prefix. */
export interface ScheduleKeys {
  /** String: one schedule's record (JSON). */
  schedule(id: string): string;
  /** Sorted set: an account's schedule ids, scored by creation time (ms). */
  account(account: string): string;
  /** Sorted set: the schedule ids of one conversation (its session and the isolated sessions made from it). */
  conversation(sessionKey: string): string;
  /** String: set once the schedules made before the conversation indexes were noted in them. */
  conversationsIndexed: string;
  /** Capped stream: the audit trail of runs (delivered, skipped, failed). */
  runs: string;
}

export function scheduleKeys(prefix: string): ScheduleKeys {
  return {
    schedule: (id) => `${prefix}:schedule:${id}`,
    account: (account) => `${prefix}:schedules:account:${account}`,
    conversation: (sessionKey) => `${prefix}:schedules:conversation:${conversationOf(sessionKey)}`,
    conversationsIndexed: `${prefix}:schedules:conversations-indexed`,
    runs: `${prefix}:schedules:runs`,
  };
}

/**
 * The conversation a schedule's session belongs to: an isolated run session
 * (`<conversation>:sched=<id>`, made by the `schedule` tool) counts as its conversation's.
 */
export function conversationOf(sessionKey: string): string {
  const at = sessionKey.indexOf(':sched=');
  return at === -1 ? sessionKey : sessionKey.slice(0, at);
}
