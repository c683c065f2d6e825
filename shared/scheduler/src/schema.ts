import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { DeliveryTarget, InboundMessage, SafeId } from '@switchboard/contracts';

/** Shortest interval of an `everyMs` schedule (1 s), and the longest (366 days). */
export const MIN_EVERY_MS = 1000;
export const MAX_EVERY_MS = 366 * 24 * 3600 * 1000;

/** What to do with a firing that is stale because the system was down when it was due. */
export const MissedRunPolicy = z.enum(['skip', 'run_once']);
export type MissedRunPolicy = z.infer<typeof MissedRunPolicy>;

/** True when `tz` is an IANA time zone this runtime knows (checked with `Intl`). */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a 5-field (minute precision) or 6-field (leading seconds) cron expression; throws with
 * the parser's reason when it is not valid. Aliases such as `@daily` are not accepted.
 */
export function parseCron(expression: string, timezone?: string, from: Date = new Date()) {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) throw new Error('cron must have 5 or 6 fields');
  // `H` (a hashed value) is drawn at random at every parse, and BullMQ parses the pattern again
  // for each firing: `H * * * *` would fire at a new minute every time, often twice in one hour.
  // An H anywhere in a field counts (`*/H`, `0-H`: the parser replaces every one); day and month
  // names (THU, MAR), which only those two fields take, are set aside first.
  const hashed = fields.some((field, i) => /H/.test(i >= fields.length - 2 ? field.replace(/[a-z]{3}/gi, '') : field));
  if (hashed) throw new Error('H (a hashed value) is not supported; give the values explicitly');
  return CronExpressionParser.parse(expression.trim(), { currentDate: from, ...(timezone ? { tz: timezone } : {}) });
}

/** The next time (epoch ms) a cron expression fires after `fromMs`, in `timezone` (default UTC). */
export function nextCronRunMs(expression: string, timezone: string | undefined, fromMs: number = Date.now()): number {
  return parseCron(expression, timezone, new Date(fromMs)).next().getTime();
}

/** Channels a schedule's result can be delivered to. */
export const DELIVERY_CHANNELS = ['telegram', 'slack', 'discord', 'whatsapp', 'web'] as const;

/**
 * Where a schedule's result goes instead of the run's own session: a chat on a channel (a web
 * session id for `web`, the platform's chat id otherwise) and optionally a thread in it. Web
 * sessions have no threads: one named there would make a session no route reads.
 */
export const DeliverInput = z
  .object({
    channel: z.enum(DELIVERY_CHANNELS),
    chatId: SafeId,
    threadId: SafeId.optional(),
  })
  .strict()
  .refine((d) => !(d.channel === 'web' && d.threadId !== undefined), {
    message: 'web sessions have no threads: deliver to { "channel": "web", "chatId": "<sessionId>" }',
    path: ['threadId'],
  });
export type DeliverInput = z.infer<typeof DeliverInput>;

/**
 * The body of `POST /v1/schedules`: a target session, the message to deliver as a system event,
 * and exactly one of `at` (ISO time in the future), `everyMs` (≥ 1000) or `cron` (5 or 6 fields,
 * with an optional IANA `timezone`, default UTC). `missedRuns` defaults to `skip`.
 */
export const CreateScheduleInput = z
  .object({
    sessionId: SafeId,
    message: z.string().max(32_000).refine((m) => m.trim().length > 0, 'message must not be blank'),
    at: z.iso.datetime({ offset: true }).optional(),
    everyMs: z.number().int().min(MIN_EVERY_MS).max(MAX_EVERY_MS).optional(),
    cron: z.string().min(1).max(200).optional(),
    timezone: z.string().min(1).max(64).optional(),
    missedRuns: MissedRunPolicy.default('skip'),
    /** Deliver each run's answer to this chat (default: the run's own session). */
    deliver: DeliverInput.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const kinds = [v.at, v.everyMs, v.cron].filter((x) => x !== undefined).length;
    if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of at, everyMs, cron', path: [] });
    if (v.at !== undefined && Date.parse(v.at) <= Date.now()) ctx.addIssue({ code: 'custom', message: 'at must be in the future', path: ['at'] });
    if (v.timezone !== undefined) {
      if (v.cron === undefined) ctx.addIssue({ code: 'custom', message: 'timezone applies to cron schedules only', path: ['timezone'] });
      if (!isValidTimeZone(v.timezone)) ctx.addIssue({ code: 'custom', message: 'timezone is not a known IANA time zone', path: ['timezone'] });
    }
    if (v.cron !== undefined && (v.timezone === undefined || isValidTimeZone(v.timezone))) {
      try {
        // Some expressions parse but never match a date (`0 0 31 4,6 *`): asking for the next
        // run finds them here rather than on every list of the account's schedules.
        parseCron(v.cron, v.timezone).next();
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${(err as Error).message}`, path: ['cron'] });
      }
    }
  });
export type CreateScheduleInput = z.input<typeof CreateScheduleInput>;
export type ValidScheduleInput = z.output<typeof CreateScheduleInput>;

/** When a schedule fires. */
export const ScheduleSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('at'), atMs: z.number().int() }),
  z.object({ kind: z.literal('every'), everyMs: z.number().int().min(MIN_EVERY_MS) }),
  z.object({ kind: z.literal('cron'), cron: z.string().min(1), timezone: z.string().optional() }),
]);
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/**
 * The fields of the normalized inbound message a firing delivers, minus what each firing sets
 * (`id`, `kind`, `text`, `receivedAtMs`). The channel that owns the session builds it.
 */
export const ScheduleTarget = InboundMessage.pick({
  v: true,
  platform: true,
  sessionKey: true,
  account: true,
  chatId: true,
  threadId: true,
  userId: true,
  userName: true,
  isGroup: true,
});
export type ScheduleTarget = z.infer<typeof ScheduleTarget>;

/** A schedule's metadata as kept in Redis (readable from any replica). */
export const ScheduleRecord = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  account: z.string().min(1),
  sessionId: z.string().min(1),
  sessionKey: z.string().min(1),
  message: z.string(),
  spec: ScheduleSpec,
  missedRuns: MissedRunPolicy,
  /** Epoch ms. */
  createdAtMs: z.number().int(),
  target: ScheduleTarget,
  /** Where each run's answer is delivered; absent: the run's own session. */
  deliverTo: DeliveryTarget.optional(),
});
export type ScheduleRecord = z.infer<typeof ScheduleRecord>;

/** The job a firing runs: only the id, so a deleted schedule's metadata is never delivered. */
export const ScheduleJob = z.object({
  v: z.literal(1),
  scheduleId: z.string().min(1),
  /** Set on one-shot jobs: the time the run was due (epoch ms). */
  atMs: z.number().int().optional(),
});
export type ScheduleJob = z.infer<typeof ScheduleJob>;

/** The BullMQ queue of schedule firings. */
export const SCHEDULE_QUEUE = {
  name: 'schedules',
  defaults: { attempts: 5, backoffMs: 1000, removeOnCompleteCount: 1000, removeOnFailAgeSeconds: 7 * 24 * 3600 },
} as const;

/** Schedule ids: `sch_` and 20 hex characters (never a bare integer, never a `:`). */
export const ScheduleId = z.string().regex(/^sch_[a-f0-9]{20}$/);
