import { sessionKey, type Attachment } from '@switchboard/contracts';
import type { NormalizedInbound } from '@switchboard/channels';
import { USER_MESSAGE_TYPES, type DcAttachment, type DcMessage, type DcUser } from './payloads.ts';

/** The bot as the normalizer needs it: its user id (from the token) and name (from READY, once known). */
export interface BotIdentity {
  id: string;
  username: string | undefined;
}

/**
 * Where a channel id sits: a thread is `{ chatId: parent, threadId: thread }` (its own session
 * under the parent channel), anything else `{ chatId: channel }`. Backed by discord.js's channel
 * cache; an unknown thread falls back to its own id as the chat, still a session of its own.
 */
export type ChannelPlace = (channelId: string) => { chatId: string; threadId?: string | undefined };

/** The bot's own managed role in a server (Discord offers it next to the bot in @ autocomplete), if known. */
export type BotRole = (guildId: string) => string | undefined;

/** A file of a Discord message, as normalization saw it: where the CDN has it and what it is. */
export interface DiscordFileRef {
  id: string;
  kind: Attachment['kind'];
  /** The signed, expiring CDN link (`cdn.discordapp.com`): downloaded, never put on the lane. */
  url: string;
  name: string;
  mimeType?: string;
  /** What Discord declared; the download is capped anyway. */
  sizeBytes: number;
}

export type Normalized =
  | { kind: 'message'; deliveryId: string; message: NormalizedInbound; isPrivate: boolean; mentioned: boolean; files: DiscordFileRef[] }
  | { kind: 'ignored'; reason: 'from_bot' | 'system' | 'no_text' | 'not_edited' };

export interface NormalizeOptions {
  bot: BotIdentity;
  place: ChannelPlace;
  /** Mentioning the bot's managed role counts as mentioning the bot. */
  botRole?: BotRole;
  /** One session per user in server channels (`DISCORD_GROUP_SESSION_PER_USER`). */
  perUserInGroups: boolean;
  receivedAtMs: number;
  /** MESSAGE_UPDATE: only a real edit (new `edited_timestamp`) becomes a message. */
  edit?: boolean;
}

/** Our id for a Discord message (an edit gets its own); the outbound worker reads the message id back to reply to it. */
export function inboundId(botId: string, messageId: string, editedAtMs?: number): string {
  return editedAtMs === undefined ? `dc-${botId}-${messageId}` : `dc-${botId}-${messageId}-e${editedAtMs}`;
}

/** The Discord message id inside an id made by `inboundId`. */
export function messageIdFromInbound(id: string, botId: string): string | undefined {
  const m = /^dc-(\d+)-(\d+)(?:-e\d+)?$/.exec(id);
  return m && m[1] === botId ? m[2] : undefined;
}

/** Whether the bot was addressed: an @mention of the bot or of its managed role, or a reply to one of its messages. */
export function mentionsBot(msg: DcMessage, bot: BotIdentity, botRoleId?: string): boolean {
  if (msg.referenced_message?.author?.id === bot.id) return true;
  if (botRoleId && msg.mention_roles.includes(botRoleId)) return true;
  return msg.mentions.some((u) => u.id === bot.id);
}

function attachmentKind(a: DcAttachment): Attachment['kind'] {
  const type = (a.content_type ?? '').split('/')[0];
  if (type === 'image' || type === 'audio' || type === 'video') return type;
  return a.content_type ? 'document' : 'other';
}

const displayName = (u: DcUser) => u.global_name ?? u.username;

/** Makes mentions readable for the model: the bot's own are dropped, other users' become @name. */
function readableContent(msg: DcMessage, bot: BotIdentity, botRoleId: string | undefined): string {
  const names = new Map(msg.mentions.map((u) => [u.id, displayName(u)]));
  return msg.content
    .replace(/<@!?(\d+)>/g, (whole, id: string) => (id === bot.id ? '' : names.has(id) ? `@${names.get(id)}` : whole))
    .replace(/<@&(\d+)>/g, (whole, id: string) => (id === botRoleId ? '' : whole))
    .replace(/[ \t]{2,}/g, ' ')
    .trim();
}

/** Attachments without their signed CDN links (`url`, `proxy_url`); what they were stays. */
const unsigned = (attachments: unknown): unknown =>
  Array.isArray(attachments)
    ? attachments.map((a: unknown) => {
        if (!a || typeof a !== 'object') return a;
        const { url: _url, proxy_url: _proxy, ...rest } = a as Record<string, unknown>;
        return rest;
      })
    : attachments;

/** A message payload's own attachments, and those of the messages it forwards (`message_snapshots`), without their signed links. */
function unsignedMessage(m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  if (Array.isArray(m.attachments)) out.attachments = unsigned(m.attachments);
  if (Array.isArray(m.message_snapshots)) {
    out.message_snapshots = m.message_snapshots.map((s: unknown) => {
      const inner = s && typeof s === 'object' ? (s as { message?: unknown }).message : undefined;
      return inner && typeof inner === 'object' ? { ...(s as object), message: unsignedMessage(inner as Record<string, unknown>) } : s;
    });
  }
  return out;
}

/**
 * The message as it may go on the lane: no signed CDN link of its own attachments, nor of those of
 * the message it replies to (`referenced_message` carries them in full), nor of a forwarded
 * message's (`message_snapshots`, of either).
 */
function withoutSignedLinks(msg: DcMessage): DcMessage {
  const ref = msg.referenced_message as Record<string, unknown> | null | undefined;
  return { ...unsignedMessage(msg), ...(ref ? { referenced_message: unsignedMessage(ref) } : {}) } as DcMessage;
}

/**
 * Turns a MESSAGE_CREATE (or an edit from MESSAGE_UPDATE) into the core's message. DMs are one
 * session per user, server channels one per channel (or per user, if configured), and each thread
 * its own session. Messages of bots (this one included), webhooks and system messages are ignored,
 * so two bots never talk to each other in a loop.
 */
export function normalizeMessage(msg: DcMessage, o: NormalizeOptions): Normalized {
  if (msg.author.bot || msg.author.system || msg.webhook_id || msg.author.id === o.bot.id) return { kind: 'ignored', reason: 'from_bot' };
  if (!USER_MESSAGE_TYPES.has(msg.type)) return { kind: 'ignored', reason: 'system' };
  let editedAtMs: number | undefined;
  if (o.edit) {
    // Discord also sends MESSAGE_UPDATE when a link preview (embed) resolves; only a new text is an edit.
    editedAtMs = msg.edited_timestamp ? Date.parse(msg.edited_timestamp) : Number.NaN;
    if (!Number.isFinite(editedAtMs)) return { kind: 'ignored', reason: 'not_edited' };
  }
  const files: DiscordFileRef[] = msg.attachments.map((a) => ({
    id: a.id,
    kind: attachmentKind(a),
    url: a.url,
    name: a.filename,
    sizeBytes: a.size,
    ...(a.content_type ? { mimeType: a.content_type } : {}),
  }));
  const botRoleId = msg.guild_id !== undefined ? o.botRole?.(msg.guild_id) : undefined;
  let text = readableContent(msg, o.bot, botRoleId);
  if (text === '' && files.length === 0) return { kind: 'ignored', reason: 'no_text' };
  if (text === '') text = `[sent ${files.map((a) => a.name).join(', ')}]`;
  const isPrivate = msg.guild_id === undefined;
  const mentioned = !isPrivate && mentionsBot(msg, o.bot, botRoleId);
  const ref = msg.referenced_message;
  if (ref && ref.author?.id !== o.bot.id) {
    const quoted = (ref.content ?? '').replace(/\s+/g, ' ').slice(0, 200);
    text = `[in reply to ${ref.author ? displayName(ref.author) : 'a message'}${quoted ? `: "${quoted}"` : ''}] ${text}`;
  }
  if (editedAtMs !== undefined) text = `[edited message] ${text}`;
  const where = isPrivate ? { chatId: msg.channel_id } : o.place(msg.channel_id);
  const userId = msg.author.id;
  return {
    kind: 'message',
    deliveryId: editedAtMs === undefined ? msg.id : `${msg.id}-e${editedAtMs}`,
    isPrivate,
    mentioned,
    files,
    message: {
      v: 1,
      id: inboundId(o.bot.id, msg.id, editedAtMs),
      platform: 'discord',
      sessionKey: sessionKey({
        platform: 'discord',
        account: o.bot.id,
        chatId: where.chatId,
        threadId: where.threadId,
        userId: !isPrivate && o.perUserInGroups ? userId : undefined,
      }),
      account: o.bot.id,
      chatId: where.chatId,
      ...(where.threadId ? { threadId: where.threadId } : {}),
      userId,
      userName: msg.member?.nick ?? displayName(msg.author),
      kind: 'user',
      text,
      isGroup: !isPrivate,
      receivedAtMs: o.receivedAtMs,
      // The CDN links are signed: whoever has one can download the file until it expires.
      raw: withoutSignedLinks(msg),
    },
  };
}
