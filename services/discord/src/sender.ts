import { createHash } from 'node:crypto';
import { DiscordAPIError, HTTPError, RateLimitError, Routes, type REST } from 'discord.js';
import type { ChannelSender, ChatTarget, DraftSurface, SendFailure } from '@switchboard/channels';
import { messageIdFromInbound } from './normalize.ts';
import { approvalMessage, NO_MENTIONS, renderDiscordParts } from './render.ts';

/** The REST calls the sender makes (discord.js `client.rest`, or a stand-in in unit tests). */
export type DiscordRest = Pick<REST, 'post' | 'patch' | 'delete'>;

/** A thread is a channel of its own: messages for it go to the thread's id. */
export const channelOf = (target: ChatTarget) => target.threadId ?? target.chatId;

/**
 * Discord's `nonce` (at most 25 characters) from a retry-stable key. With `enforce_nonce`, a resend
 * after a timeout (the REST client's retry, or the outbound job's) returns the message created the
 * first time instead of posting it twice.
 */
export function nonceOf(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 25);
}

async function createMessage(rest: DiscordRest, channelId: string, body: Record<string, unknown>): Promise<string> {
  const sent = (await rest.post(Routes.channelMessages(channelId), { body })) as { id: string };
  return sent.id;
}

/** Replaces a message's text (a draft, with its next text or the reply), pinging nobody. */
async function editMessage(rest: DiscordRest, target: ChatTarget, messageId: string, content: string): Promise<void> {
  await rest.patch(Routes.channelMessage(channelOf(target), messageId), { body: { content, allowed_mentions: NO_MENTIONS } });
}

/** Deletes a message (a draft that is not needed any more). */
async function deleteMessage(rest: DiscordRest, target: ChatTarget, messageId: string): Promise<void> {
  await rest.delete(Routes.channelMessage(channelOf(target), messageId));
}

/**
 * Discord's error codes for an edit of a message that is gone or can no longer be edited: Unknown
 * Message (the user or a moderator deleted the draft), Cannot edit a message authored by another
 * user, and the edit limit on messages older than an hour.
 */
const UNEDITABLE = new Set([10008, 50005, 30046]);
const uneditable = (err: unknown): boolean => err instanceof DiscordAPIError && UNEDITABLE.has(Number(err.code));

/** The Discord message a reply to `replyTo` (inbound ids, oldest first) quotes: the last one, if it is this bot's. */
function quotedOf(replyTo: readonly string[], botId: string | undefined): string | undefined {
  const last = replyTo[replyTo.length - 1];
  return last && botId ? messageIdFromInbound(last, botId) : undefined;
}

/**
 * Discord's side of the channel outbound worker: markdown passes through, split at 2000
 * characters; the first part replies to the asker's message; approvals get Approve/Deny buttons.
 * Rate limits (per-route buckets, the global 50/s, 429 answers) are waited out inside the REST
 * client, which queues requests per route, so nothing is lost or reordered.
 */
export function discordSender(rest: DiscordRest, botId: string): ChannelSender {
  return {
    render: (markdown) => renderDiscordParts(markdown),
    async send(target, content, { replyTo, key }) {
      const replyId = quotedOf(replyTo, botId);
      return createMessage(rest, channelOf(target), {
        content,
        allowed_mentions: NO_MENTIONS,
        ...(replyId ? { message_reference: { message_id: replyId, fail_if_not_exists: false } } : {}),
        ...(key ? { nonce: nonceOf(key), enforce_nonce: true } : {}),
      });
    },
    edit: (target, messageId, content) => editMessage(rest, target, messageId, content),
    uneditable,
    remove: (target, messageId) => deleteMessage(rest, target, messageId),
    async sendApproval(target, notice) {
      const { content, components } = approvalMessage(notice);
      await createMessage(rest, channelOf(target), { content, components, allowed_mentions: NO_MENTIONS, nonce: nonceOf(`ap-${notice.id}`), enforce_nonce: true });
    },
    classify: classifyDiscordError,
  };
}

/**
 * Splits "Discord refused" (4xx: retrying cannot help) from "slow down" (a 429 the REST client
 * gave up waiting for) and "unreachable or failing" (5xx after the client's retries, network).
 */
export function classifyDiscordError(err: unknown): SendFailure {
  if (err instanceof RateLimitError) return { kind: 'rate_limited', retryAfterMs: Math.max(1, err.retryAfter) };
  if (err instanceof DiscordAPIError) {
    if (err.status === 429) return { kind: 'rate_limited', retryAfterMs: 1000 };
    if (err.status >= 400 && err.status < 500) return { kind: 'permanent', reason: `(${err.status}/${err.code}) ${err.message}` };
    return { kind: 'transient', reason: `(${err.status}/${err.code}) ${err.message}` };
  }
  if (err instanceof HTTPError) return { kind: 'transient', reason: `(${err.status}) ${err.message}` };
  return { kind: 'transient', reason: `unreachable: ${err instanceof Error ? err.message : String(err)}` };
}

/**
 * Drafts for the reply streamer: a message edited as the reply grows (it becomes the reply's first
 * part, so it already quotes the turn's last message, as the final reply would), and the typing
 * indicator. Without `botId` drafts quote nothing.
 */
export function discordDraftSurface(rest: DiscordRest, botId?: string): DraftSurface {
  return {
    post(target, text, opts) {
      const replyId = quotedOf(opts?.replyTo ?? [], botId);
      return createMessage(rest, channelOf(target), {
        content: text,
        allowed_mentions: NO_MENTIONS,
        ...(replyId ? { message_reference: { message_id: replyId, fail_if_not_exists: false } } : {}),
        // The nonce covers the REST client's own retry after a timeout. It is the turn's (one draft per
        // turn): two turns whose drafts begin alike ("Sure …") must not get the same message back.
        nonce: nonceOf(`draft-${channelOf(target)}-${opts?.turnId ?? `${text}-${Date.now()}`}`),
        enforce_nonce: true,
      });
    },
    edit: (target, messageId, text) => editMessage(rest, target, messageId, text),
    remove: (target, messageId) => deleteMessage(rest, target, messageId),
    uneditable,
    async typing(target) {
      await rest.post(Routes.channelTyping(channelOf(target)));
    },
  };
}
