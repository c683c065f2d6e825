import { z } from 'zod';
import { storableText } from './text.ts';

/** Characters allowed in a caller-chosen id (session ids, idempotency keys): no `:` (BullMQ) and no spaces. */
export const SafeId = z.string().regex(/^[A-Za-z0-9._@+=-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ @ + = -');

/** An attachment handed over by a channel: stored elsewhere, referenced by URL. */
export const Attachment = z.object({
  kind: z.enum(['image', 'document', 'audio', 'video', 'other']),
  url: z.string(),
  mimeType: z.string().optional(),
  name: z.string().optional(),
  sizeBytes: z.number().int().nonnegative().optional(),
});
export type Attachment = z.infer<typeof Attachment>;

/** A chat to deliver a reply to: a platform's outbound queue, or (web) a session's event stream. */
export const DeliveryTarget = z.object({
  platform: z.string().min(1),
  account: z.string().min(1),
  chatId: z.string().min(1),
  threadId: z.string().optional(),
  /** The session whose event stream gets the reply (web targets); default: the turn's own session. */
  sessionKey: z.string().min(1).optional(),
});
export type DeliveryTarget = z.infer<typeof DeliveryTarget>;

/**
 * The one message type the core sees. Channel services build it from a platform update; only the
 * adapter that produced `raw` may read it.
 */
export const InboundMessage = z.object({
  v: z.literal(1),
  /** Switchboard's id for this message, unique across platforms. */
  id: z.string().min(1),
  platform: z.string().min(1),
  /** The session lane this message belongs to (see `sessionKey()`). */
  sessionKey: z.string().min(1),
  account: z.string().min(1),
  chatId: z.string().min(1),
  threadId: z.string().optional(),
  userId: z.string().min(1),
  userName: z.string().optional(),
  /** `user` is a person speaking; `system_event` is a schedule, hook or tool completion. */
  kind: z.enum(['user', 'system_event']).default('user'),
  /** Storable everywhere (see storableText): U+0000 and unpaired surrogates become U+FFFD. */
  text: z.string().transform(storableText),
  attachments: z.array(Attachment).optional(),
  isGroup: z.boolean().optional(),
  /** Epoch milliseconds when the channel service received it. */
  receivedAtMs: z.number().int().nonnegative(),
  /** What produced a system event, when the agent treats it specially (a heartbeat may stay silent). */
  trigger: z.enum(['heartbeat']).optional(),
  /**
   * Where the answer goes instead of this session's own chat (a schedule's delivery target). Used
   * only when every message of a turn names the same target.
   */
  deliverTo: DeliveryTarget.optional(),
  raw: z.unknown().optional(),
});
export type InboundMessage = z.infer<typeof InboundMessage>;

/** A final reply to deliver on the session's channel. */
/** Tokens a turn's model calls used, all steps together (as the model server counted them). */
export const TokenUsage = z.object({ promptTokens: z.number().int().nonnegative(), completionTokens: z.number().int().nonnegative() });
export type TokenUsage = z.infer<typeof TokenUsage>;

export const OutboundReply = z.object({
  v: z.literal(1),
  /** Stable per turn, so a redelivered reply can be recognised (`reply-<turnId>`). */
  id: z.string().min(1),
  turnId: z.string().min(1),
  sessionKey: z.string().min(1),
  platform: z.string().min(1),
  account: z.string().min(1),
  chatId: z.string().min(1),
  threadId: z.string().optional(),
  text: z.string(),
  /** The inbound message ids this reply answers, in order. */
  inReplyTo: z.array(z.string()),
  /** The turn's token usage, when this run of it made the model calls (not on a redelivery). */
  usage: TokenUsage.optional(),
});
export type OutboundReply = z.infer<typeof OutboundReply>;

export interface SessionAddress {
  platform: string;
  account: string;
  chatId: string;
  threadId?: string | undefined;
  /** Set for per-user sessions inside a group chat. */
  userId?: string | undefined;
}

/** Builds the lane key of a conversation: `platform:account:chat[:t=thread][:u=user]`. */
export function sessionKey(addr: SessionAddress): string {
  let key = `${addr.platform}:${addr.account}:${addr.chatId}`;
  if (addr.threadId) key += `:t=${addr.threadId}`;
  if (addr.userId) key += `:u=${addr.userId}`;
  return key;
}
