import { GrammyError, HttpError, type Api } from 'grammy';
import { approvalAction, approvalSummary, type ChannelSender, type SendFailure } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import { messageIdFromInbound } from './normalize.ts';
import { escapeHtml, renderTelegramParts } from './render.ts';

const stripHtml = (html: string) => html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const isParseError = (err: unknown) => err instanceof GrammyError && err.error_code === 400 && /can't parse entities/i.test(err.description);
/** An edit Telegram refuses because the draft is gone or can no longer be edited: the outbound worker sends the reply as a new message instead. */
export const isUneditable = (err: unknown): boolean =>
  err instanceof GrammyError && err.error_code === 400 && /message to edit not found|message can't be edited|MESSAGE_ID_INVALID/i.test(err.description);

/** Telegram's side of the channel outbound worker: HTML rendering, replies to the asker, inline keyboards. */
export function telegramSender(api: Api, botId: string, log: Logger): ChannelSender {
  const thread = (threadId: string | undefined) => (threadId ? { message_thread_id: Number(threadId) } : {});
  const sender: ChannelSender = {
    render: (markdown) => renderTelegramParts(markdown),
    async send(target, html, { replyTo }) {
      const last = replyTo[replyTo.length - 1];
      const replyId = last ? messageIdFromInbound(last, botId, target.chatId) : undefined;
      const base = { ...thread(target.threadId), ...(replyId !== undefined ? { reply_parameters: { message_id: replyId, allow_sending_without_reply: true } } : {}) };
      try {
        return String((await api.sendMessage(target.chatId, html, { ...base, parse_mode: 'HTML' })).message_id);
      } catch (err) {
        if (!isParseError(err)) throw err;
        // Our rendering produced HTML Telegram rejects: the words matter more than the formatting.
        log.warn({ description: (err as GrammyError).description }, 'telegram rejected our HTML; sending as plain text');
        return String((await api.sendMessage(target.chatId, stripHtml(html), base)).message_id);
      }
    },
    async edit(target, messageId, html) {
      try {
        await api.editMessageText(target.chatId, Number(messageId), html, { parse_mode: 'HTML' });
      } catch (err) {
        if (err instanceof GrammyError && /message is not modified/i.test(err.description)) return;
        if (!isParseError(err)) throw err;
        await api.editMessageText(target.chatId, Number(messageId), stripHtml(html));
      }
    },
    uneditable: isUneditable,
    async remove(target, messageId) {
      await api.deleteMessage(target.chatId, Number(messageId));
    },
    async sendApproval(target, notice) {
      const { argsJson } = approvalSummary(notice.tool, notice.arguments, 3000);
      const text = `The assistant wants to run <b>${escapeHtml(notice.tool)}</b>:\n<pre><code class="language-json">${escapeHtml(argsJson)}</code></pre>`;
      await api.sendMessage(target.chatId, text, {
        parse_mode: 'HTML',
        ...thread(target.threadId),
        reply_markup: {
          inline_keyboard: [[
            { text: 'Approve', callback_data: approvalAction(notice.id, 'approve') },
            { text: 'Deny', callback_data: approvalAction(notice.id, 'deny') },
          ]],
        },
      });
    },
    classify: classifyTelegramError,
  };
  return sender;
}

/** Splits "Telegram refused" (4xx: retrying cannot help) from "slow down" (429) and "unreachable or failing" (retry). */
export function classifyTelegramError(err: unknown): SendFailure {
  if (err instanceof GrammyError) {
    if (err.error_code === 429) return { kind: 'rate_limited', retryAfterMs: Math.max(1, err.parameters.retry_after ?? 1) * 1000 };
    if (err.error_code >= 400 && err.error_code < 500) return { kind: 'permanent', reason: `(${err.error_code}) ${err.description}` };
    return { kind: 'transient', reason: `(${err.error_code}) ${err.description}` };
  }
  if (err instanceof HttpError) return { kind: 'transient', reason: `unreachable: ${err.message}` };
  return { kind: 'transient', reason: err instanceof Error ? err.message : String(err) };
}

