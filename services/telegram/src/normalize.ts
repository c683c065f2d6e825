import { sessionKey, type Attachment, type InboundMessage } from '@switchboard/contracts';
import type { TgMessage } from './update.ts';

/** The bot as the normalizer needs it: id from the token, username from getMe (once known). */
export interface BotIdentity {
  id: string;
  username: string | undefined;
}

/** A file in a message, to be fetched with getFile before the message goes on its lane. */
export interface TgFileRef {
  fileId: string;
  kind: Attachment['kind'];
  name?: string | undefined;
  mimeType?: string | undefined;
  /** As Telegram announced it (may be missing). */
  sizeBytes?: number | undefined;
}

export interface NormalizeOptions {
  /** TELEGRAM_GROUP_SESSION_PER_USER: one session per user in a group (topics still split it further). */
  groupSessionPerUser?: boolean;
  /** The message is an `edited_message`: it gets its own id and is marked "(edited)". */
  edited?: boolean;
  /** Photos: the largest size within this many bytes is taken (default: the largest). */
  maxFileBytes?: number;
}

export type Normalized =
  | { kind: 'message'; message: Omit<InboundMessage, 'id'> & { id: string }; isPrivate: boolean; mentioned: boolean; files: TgFileRef[] }
  | { kind: 'ignored'; reason: 'no_text' | 'from_bot' | 'channel' };

/** Our message id for a Telegram message; the outbound worker reads `messageId` back to reply to it. */
export function inboundId(botId: string, chatId: number | string, messageId: number): string {
  return `tg-${botId}-${chatId}-${messageId}`;
}

/** The Telegram message id inside an id made by `inboundId` (an edit's `-e<time>` suffix included), for the same chat. */
export function messageIdFromInbound(id: string, botId: string, chatId: string): number | undefined {
  const prefix = `tg-${botId}-${chatId}-`;
  if (!id.startsWith(prefix)) return undefined;
  const n = Number(id.slice(prefix.length).replace(/-e\d+$/, ''));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The files of a message (photo, document, voice, audio, video) and a stand-in text for a message without a caption. */
export function messageFiles(msg: TgMessage, maxFileBytes = Infinity): { files: TgFileRef[]; placeholder: string | undefined } {
  const files: TgFileRef[] = [];
  let placeholder: string | undefined;
  if (msg.photo && msg.photo.length > 0) {
    // Telegram lists the sizes smallest first; take the largest that may be downloaded.
    const fits = msg.photo.filter((p) => (p.file_size ?? 0) <= maxFileBytes);
    const photo = (fits.length > 0 ? fits : msg.photo).at(-1)!;
    files.push({ fileId: photo.file_id, kind: 'image', mimeType: 'image/jpeg', name: 'photo.jpg', sizeBytes: photo.file_size });
    placeholder = '(photo)';
  }
  if (msg.document) {
    const d = msg.document;
    const image = d.mime_type?.startsWith('image/') ?? false;
    files.push({ fileId: d.file_id, kind: image ? 'image' : 'document', mimeType: d.mime_type, name: d.file_name, sizeBytes: d.file_size });
    placeholder = `(file ${d.file_name ?? 'without a name'})`;
  }
  if (msg.voice) {
    files.push({ fileId: msg.voice.file_id, kind: 'audio', mimeType: msg.voice.mime_type ?? 'audio/ogg', name: 'voice.ogg', sizeBytes: msg.voice.file_size });
    placeholder = `(voice message, ${msg.voice.duration} s)`;
  }
  if (msg.audio) {
    const a = msg.audio;
    files.push({ fileId: a.file_id, kind: 'audio', mimeType: a.mime_type, name: a.file_name ?? a.title, sizeBytes: a.file_size });
    placeholder = `(audio ${a.file_name ?? a.title ?? ''})`.replace(' )', ')');
  }
  if (msg.video) {
    const v = msg.video;
    files.push({ fileId: v.file_id, kind: 'video', mimeType: v.mime_type, name: v.file_name, sizeBytes: v.file_size });
    placeholder = '(video)';
  }
  return { files, placeholder };
}

/** Whether the bot was addressed: an @mention, a text mention, a /command@bot, or a reply to it. */
export function mentionsBot(msg: TgMessage, bot: BotIdentity): boolean {
  if (msg.reply_to_message?.from && String(msg.reply_to_message.from.id) === bot.id) return true;
  const text = msg.text ?? msg.caption ?? '';
  const entities = msg.entities ?? msg.caption_entities ?? [];
  const handle = bot.username ? `@${bot.username.toLowerCase()}` : undefined;
  for (const e of entities) {
    if (e.type === 'text_mention' && e.user && String(e.user.id) === bot.id) return true;
    const part = text.slice(e.offset, e.offset + e.length).toLowerCase();
    if (handle && e.type === 'mention' && part === handle) return true;
    if (handle && e.type === 'bot_command' && part.endsWith(handle)) return true;
  }
  return false;
}

/**
 * Turns a Telegram message into the core's message. DMs are one session per user, groups one per
 * chat, and each forum topic its own session. Messages of bots (this one included) are ignored so
 * two bots never talk to each other in a loop.
 */
export function normalizeMessage(msg: TgMessage, bot: BotIdentity, receivedAtMs: number, opts: NormalizeOptions = {}): Normalized {
  if (msg.chat.type === 'channel') return { kind: 'ignored', reason: 'channel' };
  if (!msg.from || msg.from.is_bot) return { kind: 'ignored', reason: 'from_bot' };
  const { files, placeholder } = messageFiles(msg, opts.maxFileBytes);
  // A photo or file carries its words as a caption instead of text.
  const words = [msg.text, msg.caption].find((t) => t !== undefined && t.trim() !== '');
  const raw = words ?? placeholder;
  if (raw === undefined) return { kind: 'ignored', reason: 'no_text' };
  const isPrivate = msg.chat.type === 'private';
  const chatId = String(msg.chat.id);
  // Only forum topics are sessions of their own; in plain groups message_thread_id marks a reply thread.
  const threadId = msg.is_topic_message && msg.message_thread_id !== undefined ? String(msg.message_thread_id) : undefined;
  const mentioned = !isPrivate && mentionsBot(msg, bot);
  let text = raw;
  if (mentioned && bot.username) text = text.replace(new RegExp(`@${bot.username}\\b`, 'gi'), '').trim() || raw;
  if (msg.reply_to_message && String(msg.reply_to_message.from?.id) !== bot.id) {
    text = `[in reply to message ${msg.reply_to_message.message_id}] ${text}`;
  }
  if (opts.edited) text = `(edited) ${text}`;
  const userName = msg.from.username ?? msg.from.first_name;
  const perUser = !isPrivate && opts.groupSessionPerUser ? String(msg.from.id) : undefined;
  const id = inboundId(bot.id, chatId, msg.message_id) + (opts.edited ? `-e${msg.edit_date ?? receivedAtMs}` : '');
  return {
    kind: 'message',
    isPrivate,
    mentioned,
    files,
    message: {
      v: 1,
      id,
      platform: 'telegram',
      sessionKey: sessionKey({ platform: 'telegram', account: bot.id, chatId, threadId, userId: perUser }),
      account: bot.id,
      chatId,
      ...(threadId ? { threadId } : {}),
      userId: String(msg.from.id),
      userName,
      kind: 'user',
      text,
      isGroup: !isPrivate,
      receivedAtMs,
      raw: msg,
    },
  };
}
