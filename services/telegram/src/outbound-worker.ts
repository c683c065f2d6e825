import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { GrammyError, HttpError, type Api } from 'grammy';
import type { Redis } from 'ioredis';
import { OutboundJob, outboundQueue, type OutboundReply } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type { TelegramMetrics } from './metrics.ts';
import { messageIdFromInbound } from './normalize.ts';
import { renderTelegramParts } from './render.ts';

export interface OutboundWorkerOptions {
  api: Api;
  botId: string;
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: TelegramMetrics;
  concurrency: number;
  chatIntervalMs: number;
  globalRatePerSecond: number;
  /** Most 429 answers waited out in-process for one message before the job fails for a retry (default 20). */
  max429Waits?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Consumes `outbound-telegram`: renders each reply, splits it, and sends the parts in order.
 *
 * Order per chat: jobs start in queue order and each chat's sends go through one promise chain,
 * so a job waiting out a 429 (`retry_after`) holds back later replies to that chat only; other
 * chats keep flowing. Parts already sent are recorded as job progress, so a retried job sends
 * only what is missing.
 */
export function createOutboundWorker(opts: OutboundWorkerOptions): Worker {
  const log = opts.logger.child({ queue: outboundQueue('telegram').name });
  const chains = new Map<string, Promise<unknown>>();
  const lastSentAt = new Map<string, number>();
  const max429Waits = opts.max429Waits ?? 20;

  function inChatOrder<T>(chatId: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(chatId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    chains.set(chatId, tail);
    void tail.then(() => {
      if (chains.get(chatId) === tail) chains.delete(chatId);
    });
    return next;
  }

  async function sendPart(reply: OutboundReply, html: string, replyTo: number | undefined, job: Job): Promise<void> {
    const base = {
      ...(reply.threadId ? { message_thread_id: Number(reply.threadId) } : {}),
      ...(replyTo !== undefined ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
    };
    let waits = 0;
    let plain = false;
    for (;;) {
      const pace = (lastSentAt.get(reply.chatId) ?? 0) + opts.chatIntervalMs - Date.now();
      if (pace > 0) await sleep(pace);
      try {
        const text = plain ? html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : html;
        await opts.api.sendMessage(reply.chatId, text, plain ? base : { ...base, parse_mode: 'HTML' });
        lastSentAt.set(reply.chatId, Date.now());
        opts.metrics.sent.inc({ outcome: 'sent' });
        return;
      } catch (err) {
        lastSentAt.set(reply.chatId, Date.now());
        if (err instanceof GrammyError && err.error_code === 429 && waits < max429Waits) {
          waits += 1;
          const retryAfterMs = Math.max(1, err.parameters.retry_after ?? 1) * 1000;
          opts.metrics.sent.inc({ outcome: 'rate_limited' });
          log.warn({ jobId: job.id, retryAfterMs }, 'telegram rate limit (429); waiting before sending again');
          await sleep(retryAfterMs);
          continue;
        }
        if (err instanceof GrammyError && err.error_code === 400 && !plain && /can't parse entities/i.test(err.description)) {
          // Our rendering produced HTML Telegram rejects: the words matter more than the formatting.
          log.warn({ jobId: job.id, description: err.description }, 'telegram rejected our HTML; sending as plain text');
          plain = true;
          continue;
        }
        throw err;
      }
    }
  }

  const worker = new Worker(
    outboundQueue('telegram').name,
    (job: Job) => {
      const parsed = OutboundJob.safeParse(job.data);
      if (!parsed.success) {
        log.error({ jobId: job.id, issues: parsed.error.issues }, 'invalid outbound job; failing it for good');
        return Promise.reject(new UnrecoverableError(`invalid outbound job: ${parsed.error.message}`));
      }
      const reply = parsed.data.reply;
      const parts = renderTelegramParts(reply.text);
      const done = typeof job.progress === 'number' ? job.progress : 0;
      const lastInbound = reply.inReplyTo[reply.inReplyTo.length - 1];
      const replyTo = lastInbound ? messageIdFromInbound(lastInbound, opts.botId, reply.chatId) : undefined;
      // Entered synchronously, so jobs join their chat's chain in the order the worker took them.
      return inChatOrder(reply.chatId, async () => {
        try {
          for (let i = done; i < parts.length; i++) {
            await sendPart(reply, parts[i]!, i === 0 ? replyTo : undefined, job);
            await job.updateProgress(i + 1);
          }
        } catch (err) {
          throw classify(err, job, log);
        }
        return { parts: parts.length };
      });
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      limiter: { max: opts.globalRatePerSecond, duration: 1000 },
    },
  );
  worker.on('failed', (job, err) => {
    if (job && (err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1))) opts.metrics.sent.inc({ outcome: 'failed' });
  });
  worker.on('error', (err) => log.error({ err }, 'outbound worker error'));
  return worker;
}

/** Splits "Telegram refused" (4xx: retrying cannot help) from "Telegram unreachable or failing" (retry). */
function classify(err: unknown, job: Job, log: Logger): Error {
  if (err instanceof GrammyError) {
    if (err.error_code >= 400 && err.error_code < 500 && err.error_code !== 429) {
      log.error({ jobId: job.id, code: err.error_code, description: err.description }, 'telegram refused the message; not retrying');
      return new UnrecoverableError(`telegram refused (${err.error_code}): ${err.description}`);
    }
    log.warn({ jobId: job.id, code: err.error_code, description: err.description }, 'telegram answered with an error; will retry');
    return err;
  }
  if (err instanceof HttpError) {
    log.warn({ jobId: job.id, err: err.message }, 'telegram unreachable; will retry');
    return err;
  }
  log.error({ jobId: job.id, err }, 'outbound handler threw');
  return err instanceof Error ? err : new Error(String(err));
}
