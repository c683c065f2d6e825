import { GrammyError, type Api } from 'grammy';
import type { ChatTarget, DraftSurface } from '@switchboard/channels';
import { messageIdFromInbound } from './normalize.ts';
import { isUneditable } from './outbound-worker.ts';

/** Telegram's limit on one message's text; a draft stays under it (the final reply is split by the outbound worker). */
export const TELEGRAM_DRAFT_MAX_CHARS = 4000;

const thread = (threadId: string | undefined) => (threadId ? { message_thread_id: Number(threadId) } : {});

/**
 * Where a Telegram reply is streamed while it is written: a plain-text message (no parse_mode, so
 * half-written markup can never make Telegram refuse it) edited in place, and the "typing…"
 * action in the chat or forum topic. The outbound worker later edits the draft into the reply's
 * first HTML part.
 */
export function telegramDraftSurface(api: Api, opts: { botId?: string; editIntervalMs?: number; groupEditIntervalMs?: number } = {}): DraftSurface {
  // Several sessions can share one chat (forum topics, per-user group sessions): draft edits are
  // spaced per chat, not just per turn. Telegram allows about 1 message/s per chat and 20/min per
  // group; a skipped edit only makes the preview lag, the final reply is edited in regardless.
  const lastEditAt = new Map<string, number>();
  const gapMs = (chatId: string) => (chatId.startsWith('-') ? (opts.groupEditIntervalMs ?? 3000) : (opts.editIntervalMs ?? 0));
  return {
    async post(target: ChatTarget, text: string, postOpts?: { replyTo: readonly string[] }): Promise<string> {
      // Quote the message being answered, as the final reply's first part does when there is no draft.
      const last = postOpts?.replyTo.at(-1);
      const replyId = last && opts.botId ? messageIdFromInbound(last, opts.botId, target.chatId) : undefined;
      const sent = await api.sendMessage(target.chatId, text, {
        ...thread(target.threadId),
        link_preview_options: { is_disabled: true },
        ...(replyId !== undefined ? { reply_parameters: { message_id: replyId, allow_sending_without_reply: true } } : {}),
      });
      return String(sent.message_id);
    },
    async edit(target: ChatTarget, messageId: string, text: string, editOpts?: { final?: boolean }): Promise<void> {
      const wait = (lastEditAt.get(target.chatId) ?? 0) + gapMs(target.chatId) - Date.now();
      if (wait > 0) {
        if (!editOpts?.final) return;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      lastEditAt.set(target.chatId, Date.now());
      if (lastEditAt.size > 10_000) lastEditAt.clear(); // a bound, not an LRU: forgetting only allows one early edit
      try {
        await api.editMessageText(target.chatId, Number(messageId), text, { link_preview_options: { is_disabled: true } });
      } catch (err) {
        // The same text twice (a delta that only changed whitespace Telegram trims) is not an error.
        if (err instanceof GrammyError && /message is not modified/i.test(err.description)) return;
        throw err;
      }
    },
    async remove(target: ChatTarget, messageId: string): Promise<void> {
      await api.deleteMessage(target.chatId, Number(messageId));
    },
    uneditable: isUneditable,
    async typing(target: ChatTarget): Promise<void> {
      await api.sendChatAction(target.chatId, 'typing', thread(target.threadId));
    },
  };
}
