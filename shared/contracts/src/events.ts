import { z } from 'zod';
import { TokenUsage } from './messages.ts';

/**
 * What a session's event log carries (Redis stream, replayed to SSE clients and to whichever web
 * replica holds the HTTP connection). Every event names the turn it belongs to.
 */
export const SessionEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message_accepted'), messageId: z.string(), text: z.string() }),
  z.object({ type: z.literal('turn_started'), turnId: z.string(), messageIds: z.array(z.string()) }),
  z.object({
    type: z.literal('delta'),
    turnId: z.string(),
    text: z.string(),
    /**
     * Which run of the turn wrote it (the lane claim's fencing token: a run resumed after a crash or
     * a lost lease has a higher one and streams its answer again from the start). A reader keeps one
     * attempt's text: a higher attempt replaces what it showed.
     */
    attempt: z.number().int().nonnegative().optional(),
  }),
  z.object({
    type: z.literal('tool_call'),
    turnId: z.string(),
    toolCallId: z.string(),
    tool: z.string(),
    arguments: z.unknown(),
  }),
  z.object({
    type: z.literal('tool_result'),
    turnId: z.string(),
    toolCallId: z.string(),
    tool: z.string(),
    ok: z.boolean(),
    output: z.string(),
  }),
  z.object({
    type: z.literal('approval_request'),
    id: z.string(),
    turnId: z.string(),
    tool: z.string(),
    arguments: z.unknown(),
  }),
  z.object({
    type: z.literal('reply'),
    turnId: z.string(),
    replyId: z.string(),
    text: z.string(),
    inReplyTo: z.array(z.string()),
    usage: TokenUsage.optional(),
  }),
  z.object({
    type: z.literal('turn_error'),
    turnId: z.string(),
    code: z.string(),
    message: z.string(),
    inReplyTo: z.array(z.string()),
  }),
]);
export type SessionEvent = z.infer<typeof SessionEvent>;

/** An event as read back from the log, with its resumable id (usable as SSE `Last-Event-ID`). */
export interface StoredSessionEvent {
  id: string;
  event: SessionEvent;
}
