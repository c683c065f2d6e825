import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import { DeliverInput, ScheduleInputError, ScheduleLimitError, type ScheduleRecord, type Scheduler } from '@switchboard/scheduler';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { ToolError } from './tool-error.ts';

const Args = z.object({
  action: z.enum(['create', 'list', 'cancel']).describe('create a schedule, list this conversation’s schedules, or cancel one'),
  message: z.string().min(1).max(4000).optional().describe('create: what to do or remind about when it fires'),
  at: z.string().optional().describe('create: one run at this ISO 8601 time with offset, e.g. 2026-12-01T09:00:00+01:00'),
  everyMs: z.number().int().optional().describe('create: run every N milliseconds (at least 1000)'),
  cron: z.string().optional().describe('create: cron expression (5 or 6 fields)'),
  timezone: z.string().optional().describe('create: IANA time zone for cron, e.g. Europe/Berlin'),
  id: z.string().optional().describe('cancel: the schedule id'),
  isolated: z
    .boolean()
    .optional()
    .describe('create: run it in a session of its own, without this conversation’s history (the runs of a recurring one share it); the answer still comes to this conversation unless deliver says otherwise'),
  deliver: DeliverInput.optional().describe('create: send each run’s answer to this channel and chat instead of this conversation'),
});

/**
 * `schedule`: lets the assistant set reminders and recurring work for the conversation it is in.
 * Each run puts the message into this session as a system event, so the assistant acts on it then.
 */
export function createScheduleTool(scheduler: Scheduler): ToolPlugin {
  return defineTool({
    name: 'schedule',
    description:
      'Schedule a message to yourself in this conversation: once at a time, every N milliseconds, or on a cron expression with a time zone. When it fires you receive the message as a system event and can act on it; your answer goes to this conversation, or to the channel and chat named in deliver. With isolated, its runs happen in a session of their own, apart from this conversation’s history (a recurring one’s runs share that session). Also lists and cancels this conversation’s schedules.',
    risk: 'medium',
    outputTrusted: true,
    parameters: Args,
    execute: async (args, ctx) => {
      if (!ctx.account || !ctx.chatId) throw new ToolError('bad_request', 'this conversation has no address to schedule into');
      const account = ctx.account;
      // This conversation's schedules: those that run in its session, or in isolated sessions made
      // from it. Not the chat's: in a group with a session per user or per thread, another's
      // schedules are theirs.
      const ours = (r: ScheduleRecord) => r.sessionKey === ctx.sessionKey || r.sessionKey.startsWith(`${ctx.sessionKey}:sched=`);
      if (args.action === 'list') {
        const mine = await scheduler.list(account, ours);
        return mine.length === 0 ? 'no schedules in this conversation' : JSON.stringify(mine);
      }
      if (args.action === 'cancel') {
        if (!args.id) throw new ToolError('bad_request', 'cancel needs the schedule id');
        const own = (await scheduler.list(account, ours)).some((s) => s.id === args.id);
        if (!own || !(await scheduler.delete(account, args.id))) throw new ToolError('not_found', `no schedule ${args.id} in this conversation`);
        return `cancelled ${args.id}`;
      }
      const { action: _action, id: _id, isolated, ...spec } = args;
      const here = { platform: ctx.platform, account, chatId: ctx.chatId, ...(ctx.threadId ? { threadId: ctx.threadId } : {}) };
      // An isolated schedule runs in a session of its own (under this conversation's key, so it is
      // still this chat's and this user's); its answers come back here unless `deliver` says otherwise.
      const runSessionKey = isolated ? `${ctx.sessionKey}:sched=${randomBytes(6).toString('hex')}` : ctx.sessionKey;
      const deliver = spec.deliver ?? (isolated && DeliverInput.safeParse({ channel: ctx.platform, chatId: ctx.chatId, threadId: ctx.threadId }).success ? { channel: ctx.platform, chatId: ctx.chatId, ...(ctx.threadId ? { threadId: ctx.threadId } : {}) } : undefined);
      if (isolated && !deliver) throw new ToolError('bad_request', 'this conversation cannot receive deliveries; give deliver');
      try {
        const created = await scheduler.create(
          account,
          { ...spec, sessionId: ctx.chatId, ...(deliver ? { deliver } : {}) },
          { v: 1, ...here, sessionKey: runSessionKey, userId: ctx.userId },
        );
        return `scheduled ${created.id}`;
      } catch (err) {
        if (err instanceof ScheduleInputError) throw new ToolError('bad_request', err.message);
        if (err instanceof ScheduleLimitError) throw new ToolError('limit_reached', err.message);
        throw err;
      }
    },
  }) as unknown as ToolPlugin;
}
