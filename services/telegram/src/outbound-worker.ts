import type { Worker } from 'bullmq';
import { GrammyError, HttpError, type Api } from 'grammy';
import type { Redis } from 'ioredis';
import { approvalAction, createChannelOutboundWorker, type ChannelMetrics, type ChannelSender, type DraftStore, type SendFailure } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import { messageIdFromInbound } from './normalize.ts';
import { escapeHtml, renderTelegramParts } from './render.ts';

export interface OutboundWorkerOptions {
  api: Api;
  botId: string;
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: ChannelMetrics;
  concurrency: number;
  chatIntervalMs: number;
  globalRatePerSecond: number;
  drafts?: DraftStore;
  /** Most 429 answers waited out in-process for one message before the job fails for a retry (default 20). */
  max429Waits?: number;
}

const stripHtml = (html: string) => html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const isParseError = (err: unknown) => err instanceof GrammyError && err.error_code === 400 && /can't parse entities/i.test(err.description);

/** Telegram's side of the channel outbound worker: HTML rendering, replies to the asker, inline keyboards. */
export function telegramSender(api: Api, botId: string, log: Logger): ChannelSender {
  const thread = (threadId: string | undefined) => (threadId ? { message_thread_id: Number(threadId) } : {});
  return {
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
    async sendApproval(target, notice) {
      const args = JSON.stringify(notice.arguments ?? {}, null, 2);
      const text = `The assistant wants to run <b>${escapeHtml(notice.tool)}</b>:\n<pre><code class="language-json">${escapeHtml(args.length > 3000 ? `${args.slice(0, 3000)}…` : args)}</code></pre>`;
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

/**
 * Consumes `outbound-telegram` with the shared channel worker: order per chat, pacing (about 1/s per
 * chat, 30/s overall), 429 `retry_after` waits, parts resumed after a retry, approval keyboards.
 */
export function createOutboundWorker(opts: OutboundWorkerOptions): Worker {
  return createChannelOutboundWorker({
    platform: 'telegram',
    sender: telegramSender(opts.api, opts.botId, opts.logger),
    connection: opts.connection,
    prefix: opts.prefix,
    logger: opts.logger,
    metrics: opts.metrics,
    concurrency: opts.concurrency,
    chatIntervalMs: opts.chatIntervalMs,
    globalRatePerSecond: opts.globalRatePerSecond,
    ...(opts.drafts ? { drafts: opts.drafts } : {}),
    ...(opts.max429Waits !== undefined ? { max429Waits: opts.max429Waits } : {}),
  });
}
