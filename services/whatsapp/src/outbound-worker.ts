import { approvalAction, approvalSummary, type ChannelSender, type SendFailure } from '@switchboard/channels';
import type { ApprovalNotice } from '@switchboard/contracts';
import { GraphApiError, GraphUnreachableError, WHATSAPP_LIMITS, type GraphApi } from './graph-api.ts';
import { wamidFromInbound } from './normalize.ts';
import { renderWhatsAppParts } from './render.ts';

/** Cloud API error codes that mean "slow down" rather than "refused". */
const RATE_LIMIT_CODES = new Set([
  4, // application request limit
  80007, // WhatsApp Business Account rate limit
  130429, // throughput reached (messages per second of the number)
  131048, // spam rate limit
  131056, // pair rate limit: too many messages to the same user
]);
/** Codes Meta documents as temporary on its side. */
const TRANSIENT_CODES = new Set([1, 2, 131000, 131016, 133004]);
const MAX_BACKOFF_MS = 60_000;
/** A rate-limit answer older than this starts no streak: the retry it asked for came long ago, or never. */
const STREAK_WINDOW_MS = 2 * MAX_BACKOFF_MS;
/** Most recipients whose streaks are remembered at once (the oldest are forgotten first). */
const MAX_STREAKS = 10_000;

/** An error of one send, with how many rate-limit answers in a row this user's sends have had. */
interface Streaked {
  rateLimitStreak?: number;
}

export function isRateLimit(err: GraphApiError): boolean {
  return err.status === 429 || (err.code !== undefined && RATE_LIMIT_CODES.has(err.code));
}

/**
 * Splits "Meta said slow down" (429, 130429, 131056, 4, 80007: wait, then send the same part again)
 * from "Meta refused" (other 4xx such as 131047 outside the 24-hour window, 131026 undeliverable,
 * 100 bad parameter, 190 bad token: retrying cannot help) from "Meta failed or was unreachable"
 * (5xx, documented temporary codes, network: retry). The Graph API sends no `Retry-After`, so the
 * wait doubles from `baseBackoffMs` with each rate-limit answer in a row (131056 starts 6× higher:
 * the pair limit is about one message per 6 s); a `Retry-After` from a proxy wins.
 */
export function classifyWhatsAppError(err: unknown, baseBackoffMs = 1000): SendFailure {
  if (err instanceof GraphApiError) {
    const what = `(HTTP ${err.status}, code ${err.code ?? '?'}) ${err.message}`;
    if (isRateLimit(err)) {
      const streak = Math.max(1, (err as GraphApiError & Streaked).rateLimitStreak ?? 1);
      const start = err.code === 131056 ? baseBackoffMs * 6 : baseBackoffMs;
      return { kind: 'rate_limited', retryAfterMs: err.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, start * 2 ** (streak - 1)) };
    }
    if (err.status >= 500 || (err.code !== undefined && TRANSIENT_CODES.has(err.code))) return { kind: 'transient', reason: what };
    if (err.status >= 400) return { kind: 'permanent', reason: what };
    return { kind: 'transient', reason: what };
  }
  if (err instanceof GraphUnreachableError) return { kind: 'transient', reason: err.message };
  if (err instanceof RangeError) return { kind: 'permanent', reason: err.message };
  return { kind: 'transient', reason: err instanceof Error ? err.message : String(err) };
}

/** The approval prompt's body: the tool and its (redacted) arguments, within WhatsApp's 1024-character limit. */
export function approvalBody(notice: ApprovalNotice): string {
  const head = `The assistant wants to run *${notice.tool}*:\n`;
  const { argsJson } = approvalSummary(notice.tool, notice.arguments, WHATSAPP_LIMITS.interactiveBody - head.length - 10);
  return `${head}\`\`\`${argsJson}\`\`\``;
}

/**
 * WhatsApp's side of the channel outbound worker. The Cloud API cannot edit a sent message, so this
 * sender has no `edit`: replies are never streamed into a draft; each part is sent once, the first
 * quoting the message it answers (`context.message_id`).
 */
export function whatsappSender(api: GraphApi, opts: { baseBackoffMs: number }): ChannelSender {
  // Consecutive rate-limit answers per recipient, for the exponential backoff. Any other answer
  // ends a recipient's streak, and so does time: a recipient never written to again is forgotten.
  const streaks = new Map<string, { count: number; at: number }>();
  const tracked = async <T>(to: string, call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      streaks.delete(to);
      return result;
    } catch (err) {
      const last = streaks.get(to);
      streaks.delete(to);
      if (err instanceof GraphApiError && isRateLimit(err)) {
        const now = Date.now();
        const streak = (last && now - last.at <= STREAK_WINDOW_MS ? last.count : 0) + 1;
        streaks.set(to, { count: streak, at: now }); // last in the map's order: the oldest go first
        for (const [key, { at }] of streaks) {
          if (streaks.size <= MAX_STREAKS && now - at <= STREAK_WINDOW_MS) break;
          streaks.delete(key);
        }
        (err as GraphApiError & Streaked).rateLimitStreak = streak;
      }
      throw err;
    }
  };
  return {
    render: (markdown) => renderWhatsAppParts(markdown),
    async send(target, part, { replyTo }) {
      const last = replyTo[replyTo.length - 1];
      const quote = last ? wamidFromInbound(last) : undefined;
      const sent = await tracked(target.chatId, () => api.sendText(target.account, target.chatId, part, quote));
      return sent.messages[0]?.id;
    },
    async sendApproval(target, notice) {
      await tracked(target.chatId, () =>
        api.sendButtons(target.account, target.chatId, approvalBody(notice), [
          { id: approvalAction(notice.id, 'approve'), title: 'Approve' },
          { id: approvalAction(notice.id, 'deny'), title: 'Deny' },
        ]),
      );
    },
    classify: (err) => classifyWhatsAppError(err, opts.baseBackoffMs),
  };
}

