import { sessionKey, type InboundMessage } from '@switchboard/contracts';
import type { TgMessage } from './update.ts';

/** The bot as the normalizer needs it: id from the token, username from getMe (once known). */
export interface BotIdentity {
  id: string;
  username: string | undefined;
}

export type Normalized =
  | { kind: 'message'; message: Omit<InboundMessage, 'id'> & { id: string }; isPrivate: boolean; mentioned: boolean }
  | { kind: 'ignored'; reason: 'no_text' | 'from_bot' | 'channel' };

/** Our message id for a Telegram message; the outbound worker reads `messageId` back to reply to it. */
export function inboundId(botId: string, chatId: number | string, messageId: number): string {
  return `tg-${botId}-${chatId}-${messageId}`;
}

/** The Telegram message id inside an id made by `inboundId`, for the same chat. */
export function messageIdFromInbound(id: string, botId: string, chatId: string): number | undefined {
  const prefix = `tg-${botId}-${chatId}-`;
  if (!id.startsWith(prefix)) return undefined;
  const n = Number(id.slice(prefix.length));
  return Number.isSafeInteger(n) ? n : undefined;
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
export function normalizeMessage(msg: TgMessage, bot: BotIdentity, receivedAtMs: number): Normalized {
  if (msg.chat.type === 'channel') return { kind: 'ignored', reason: 'channel' };
  if (!msg.from || msg.from.is_bot) return { kind: 'ignored', reason: 'from_bot' };
  const raw = msg.text ?? msg.caption;
  if (raw === undefined || raw.trim() === '') return { kind: 'ignored', reason: 'no_text' };
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
  const userName = msg.from.username ?? msg.from.first_name;
  return {
    kind: 'message',
    isPrivate,
    mentioned,
    message: {
      v: 1,
      id: inboundId(bot.id, chatId, msg.message_id),
      platform: 'telegram',
      sessionKey: sessionKey({ platform: 'telegram', account: bot.id, chatId, threadId }),
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
