import { createHash } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { issuesText, SafeId, sessionKey, SwitchboardError } from '@switchboard/contracts';
import type { LaneIngress } from '@switchboard/lanes';
import { counter, type Logger } from '@switchboard/observability';
import { DeliverInput, deliveryTargetOf, RunAudit } from '@switchboard/scheduler';

/** The reply that means "nothing to say": the turn is neither delivered nor kept in the transcript. */
export const SILENT_REPLY = 'NO_REPLY';

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;
export const HeartbeatConfig = z
  .object({
    sessionId: SafeId,
    account: SafeId.default('local'),
    everyMs: z.number().int().min(1_000).max(7 * 24 * 3600 * 1000),
    activeHours: z
      .string()
      .regex(/^\d\d:\d\d-\d\d:\d\d$/)
      .refine((v) => v.split('-').every((p) => HH_MM.test(p)), 'activeHours must be HH:MM-HH:MM')
      .refine((v) => v.slice(0, 5) !== v.slice(6), 'activeHours must not start and end at the same time (leave it out for always)')
      .optional(),
    timezone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'unknown time zone').default('UTC'),
    prompt: z.string().min(1).max(2000).default('Heartbeat: check whether anything needs the user’s attention now.'),
    /** Most tokens the heartbeat's answer may use. */
    maxTokens: z.number().int().min(16).max(4000).default(200),
    /** Prompt budget of a heartbeat turn (smaller than a normal turn's). */
    contextTokens: z.number().int().min(256).max(100_000).default(2000),
    /** Where a heartbeat with something to say is delivered (default: its own session). */
    deliver: DeliverInput.optional(),
  })
  .strict();
export type HeartbeatConfig = z.infer<typeof HeartbeatConfig>;

export function parseHeartbeat(json: string | undefined): HeartbeatConfig | undefined {
  if (!json) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new SwitchboardError('config_error', 'invalid configuration: HEARTBEAT: not valid JSON');
  }
  const parsed = HeartbeatConfig.safeParse(raw);
  if (!parsed.success) throw new SwitchboardError('config_error', `invalid configuration: HEARTBEAT: ${issuesText(parsed.error.issues)}`);
  return parsed.data;
}

/** Whether `atMs` falls inside `HH:MM-HH:MM` in `timezone` (a window may wrap past midnight). */
export function withinActiveHours(atMs: number, activeHours: string | undefined, timezone: string): boolean {
  if (!activeHours) return true;
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(atMs);
  const minutes = Number(parts.find((p) => p.type === 'hour')!.value) * 60 + Number(parts.find((p) => p.type === 'minute')!.value);
  const [from, to] = activeHours.split('-').map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3)));
  return from! <= to! ? minutes >= from! && minutes < to! : minutes >= from! || minutes < to!;
}

/**
 * The queue of one agent's heartbeat firings. One per agent: on a shared queue any agent's worker
 * took any agent's firing and ran it with its own settings, and a scheduler left by a renamed
 * agent woke the session a second time every period. A scheduler nobody consumes any more holds
 * one pending firing, not a growing pile.
 */
export function heartbeatQueueName(agentName: string): string {
  return `heartbeats-${agentName}`;
}

/** The job scheduler of one agent's heartbeat (on its queue, and on the shared one before). */
const heartbeatSchedulerId = (agentName: string) => `heartbeat-${agentName}`;

/** The queue all agents' heartbeats shared before {@link heartbeatQueueName}; its schedulers are removed at start. */
const LEGACY_HEARTBEAT_QUEUE = 'heartbeats';

/** Heartbeat firings by outcome; registered whether or not a heartbeat is on, so dashboards always find it. */
export function heartbeatMetric(registry: Registry) {
  return counter(registry, { name: 'switchboard_heartbeats_total', help: 'Heartbeat firings by outcome (woke, inactive, skipped_stale, skipped_busy)', labelNames: ['outcome'] as const });
}

/** Heartbeat turns by outcome: answered silently, delivered, or skipped as a question already answered silently. */
export function heartbeatTurnMetric(registry: Registry) {
  return counter(registry, { name: 'switchboard_heartbeat_turns_total', help: 'Heartbeat turns by outcome (silent, delivered, skipped_unchanged)', labelNames: ['outcome'] as const });
}

/**
 * What a session's last silent heartbeat asked the model: a fingerprint of the whole request. A
 * heartbeat has no tools and its prompt carries no clock, so the same request again (nothing said
 * in the session since) is the same question, and asking it again only burns tokens; time-based
 * reminders belong to schedules. Kept a week after the last silent answer.
 */
export class SilentHeartbeats {
  static readonly TTL_SECONDS = 7 * 24 * 3600;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly agentName: string;

  constructor(redis: Redis, prefix: string, agentName: string) {
    this.redis = redis;
    this.prefix = prefix;
    this.agentName = agentName;
  }

  /** The fingerprint of a model request (any JSON-serializable value). */
  static fingerprint(request: unknown): string {
    return createHash('sha256').update(JSON.stringify(request)).digest('hex');
  }

  private key(sessionKey: string): string {
    return `${this.prefix}:heartbeat:silent:${this.agentName}:${sessionKey}`;
  }

  async answeredSilently(sessionKey: string, fingerprint: string): Promise<boolean> {
    return (await this.redis.get(this.key(sessionKey))) === fingerprint;
  }

  async rememberSilent(sessionKey: string, fingerprint: string): Promise<void> {
    await this.redis.set(this.key(sessionKey), fingerprint, 'EX', SilentHeartbeats.TTL_SECONDS);
  }
}

/**
 * Periodic check-ins on a BullMQ job scheduler: one firing per period across any number of
 * agent-worker replicas; each firing inside the active hours puts a heartbeat system event on the
 * session's lane (deduplicated per firing, so a redelivered job never wakes it twice). Every
 * firing is written to the audit trail of runs (kind `heartbeat`) with its outcome.
 */
export async function startHeartbeat(opts: { config: HeartbeatConfig; agentName: string; connection: Redis; blocking: Redis; prefix: string; ingress: LaneIngress; logger: Logger; registry: Registry }) {
  const { config } = opts;
  const runs = heartbeatMetric(opts.registry);
  const audit = new RunAudit(opts.connection, opts.prefix);
  const queueName = heartbeatQueueName(opts.agentName);
  const queue = new Queue(queueName, { connection: opts.connection, prefix: opts.prefix });
  const schedulerId = heartbeatSchedulerId(opts.agentName);
  await removeScheduler(LEGACY_HEARTBEAT_QUEUE, opts);
  // Finished firings are not kept (the audit trail of runs records each): at one a second a day
  // would leave 86,400 job hashes in Redis.
  await queue.upsertJobScheduler(
    schedulerId,
    { every: config.everyMs, startDate: Date.now() + config.everyMs },
    { name: 'heartbeat', data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
  );
  const worker = new Worker(
    queueName,
    async (job: Job) => {
      // Job-scheduler job ids end in the time the firing was due.
      const firedAtMs = Number(/:(\d+)$/.exec(job.id ?? '')?.[1] ?? job.timestamp);
      const nowMs = Date.now();
      const sessionKeyOfRun = sessionKey({ platform: 'web', account: config.account, chatId: config.sessionId });
      const target = { v: 1 as const, platform: 'web', sessionKey: sessionKeyOfRun, account: config.account, chatId: config.sessionId, userId: `heartbeat:${opts.agentName}` };
      const entry = { kind: 'heartbeat' as const, source: opts.agentName, account: config.account, firingMs: firedAtMs, sessionKey: sessionKeyOfRun };
      // Checked when it runs, not only when it was due: a firing held back by downtime must not
      // wake the model outside the active hours. One late by more than a period is stale: the
      // next one comes soon, and a check-in on long-gone state helps no one.
      if (!withinActiveHours(firedAtMs, config.activeHours, config.timezone) || !withinActiveHours(nowMs, config.activeHours, config.timezone)) {
        runs.inc({ outcome: 'inactive' });
        await audit.record({ ...entry, outcome: 'inactive' });
        return 'inactive';
      }
      if (nowMs - firedAtMs > Math.max(config.everyMs, 60_000)) {
        runs.inc({ outcome: 'skipped_stale' });
        await audit.record({ ...entry, outcome: 'skipped_stale' });
        return 'skipped_stale';
      }
      const dedupeKey = `hb-${schedulerId}-${job.id}`;
      // The session is busy: the previous check-in has not been handled yet (a slow turn), or a
      // turn of the user's is running or waiting. A check-in now would queue one more model call
      // behind it (they pile up while turns are slower than the period), or be collected into the
      // user's turn (a full turn with tools, told to answer NO_REPLY, which would reach the user),
      // or, in interrupt mode, cut the user's turn short. The next period checks in again. (A
      // redelivery of a firing already submitted goes on: submitting again repairs a turn request
      // lost in a crash.)
      if ((await opts.ingress.busy(sessionKeyOfRun)) && !(await opts.ingress.seen(dedupeKey))) {
        runs.inc({ outcome: 'skipped_busy' });
        await audit.record({ ...entry, outcome: 'skipped_busy' });
        return 'skipped_busy';
      }
      const result = await opts.ingress.submit(
        {
          ...target,
          kind: 'system_event',
          trigger: 'heartbeat',
          text: `${config.prompt}\nIf there is nothing worth telling the user right now, answer exactly ${SILENT_REPLY}.`,
          receivedAtMs: Date.now(),
          ...(config.deliver ? { deliverTo: deliveryTargetOf(config.deliver, target) } : {}),
        },
        dedupeKey,
      );
      runs.inc({ outcome: 'woke' });
      await audit.record({ ...entry, outcome: result.duplicate ? 'duplicate' : 'delivered', messageId: result.messageId });
      return 'woke';
    },
    { connection: opts.blocking, prefix: opts.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.error({ err, queue: queueName }, 'heartbeat worker error'));
  opts.logger.info({ everyMs: config.everyMs, activeHours: config.activeHours ?? 'always', session: config.sessionId }, 'heartbeat on');
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/** Removes the agent's heartbeat scheduler (heartbeat switched off), so no firing is left pending. */
export async function removeHeartbeat(opts: { agentName: string; connection: Redis; prefix: string }): Promise<void> {
  for (const queueName of [LEGACY_HEARTBEAT_QUEUE, heartbeatQueueName(opts.agentName)]) await removeScheduler(queueName, opts);
}

/** Removes the agent's heartbeat scheduler from `queueName` (its own queue, or the one all agents shared before). */
async function removeScheduler(queueName: string, opts: { agentName: string; connection: Redis; prefix: string }): Promise<void> {
  const queue = new Queue(queueName, { connection: opts.connection, prefix: opts.prefix });
  try {
    await queue.removeJobScheduler(heartbeatSchedulerId(opts.agentName));
  } finally {
    await queue.close();
  }
}
