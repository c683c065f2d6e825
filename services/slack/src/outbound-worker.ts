import type { webApi } from '@slack/bolt';
import {
  approvalAction,
  approvalSummary,
  type ChannelSender,
  type ChatTarget,
  type SendFailure,
} from '@switchboard/channels';
import { escapeMrkdwn, renderSlackParts } from './render.ts';

/** Platform errors that say "try again later" rather than "this will never work". */
const TRANSIENT_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);
/** chat.update errors after which the draft cannot be edited: the outbound worker posts the text as a new message instead. */
const UNEDITABLE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed', 'msg_too_long']);
/** Whether a chat.update error says the message is gone or can no longer be edited. */
export const isUneditable = (err: unknown): boolean => UNEDITABLE.has(platformErrorCode(err) ?? '');

interface SlackLikeError {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: string };
  message?: string;
}

/** The Web API's error code (`channel_not_found`, ...) of a platform error, else undefined. */
export function platformErrorCode(err: unknown): string | undefined {
  const e = err as SlackLikeError | undefined;
  return e?.code === 'slack_webapi_platform_error' ? e.data?.error : undefined;
}

/**
 * Splits "Slack refused" (an `ok: false` error such as channel_not_found: retrying cannot help) from
 * "slow down" (HTTP 429 with Retry-After, or `ratelimited`) and "Slack failed or was unreachable".
 */
export function classifySlackError(err: unknown): SendFailure {
  const e = (err ?? {}) as SlackLikeError;
  switch (e.code) {
    case 'slack_webapi_rate_limited_error':
      return { kind: 'rate_limited', retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1000 };
    case 'slack_webapi_platform_error': {
      const code = e.data?.error ?? 'unknown_error';
      if (code === 'ratelimited' || code === 'rate_limited') return { kind: 'rate_limited', retryAfterMs: 1000 };
      return TRANSIENT_ERRORS.has(code) ? { kind: 'transient', reason: code } : { kind: 'permanent', reason: code };
    }
    case 'slack_webapi_http_error':
      return (e.statusCode ?? 500) >= 500 || e.statusCode === 408
        ? { kind: 'transient', reason: `HTTP ${e.statusCode}` }
        : { kind: 'permanent', reason: `HTTP ${e.statusCode}` };
    case 'slack_webapi_request_error':
      return { kind: 'transient', reason: `unreachable: ${e.message ?? ''}` };
    default:
      return { kind: 'transient', reason: err instanceof Error ? err.message : String(err) };
  }
}

/** Characters of mrkdwn in one Block Kit section. */
const SECTION_LIMIT = 3000;

/** Escapes `s` for mrkdwn, cut (with an ellipsis) so the result stays within `max` characters. */
function escapeWithin(s: string, max: number): string {
  let out = '';
  for (const ch of s) {
    const e = escapeMrkdwn(ch);
    if (out.length + e.length > max - 1) return `${out}…`;
    out += e;
  }
  return out;
}

const thread = (target: ChatTarget) => (target.threadId ? { thread_ts: target.threadId } : {});

/** The metadata event type that carries a post's delivery key. */
const KEY_EVENT = 'switchboard_delivery';

/**
 * Posts a message (in the target's thread, if any) and returns its ts, Slack's message id. With a
 * `key` (one part of one reply), a post whose answer never came (a timeout, a dropped connection,
 * a 5xx) is looked for in the conversation before the error goes up to be retried: Slack may have
 * shown it, and posting it again would show the reply twice.
 */
export async function postMessage(client: webApi.WebClient, target: ChatTarget, text: string, key?: string): Promise<string> {
  const sentFrom = Math.floor(Date.now() / 1000) - 60;
  try {
    // Links in the assistant's answers stay links; unfurling every one of them would flood the channel.
    const res = await client.chat.postMessage({
      channel: target.chatId, text, mrkdwn: true, unfurl_links: false, unfurl_media: false, ...thread(target),
      ...(key ? { metadata: { event_type: KEY_EVENT, event_payload: { key } } } : {}),
    });
    return String(res.ts ?? '');
  } catch (err) {
    if (!key || !mayHaveArrived(err)) throw err;
    const found = await findPosted(client, target, key, sentFrom).catch(() => undefined);
    if (found) return found;
    throw err;
  }
}

/** Whether a failed call may still have been carried out: no answer, or Slack's own failure. */
function mayHaveArrived(err: unknown): boolean {
  const e = (err ?? {}) as SlackLikeError;
  return e.code === 'slack_webapi_request_error' || (e.code === 'slack_webapi_http_error' && (e.statusCode ?? 500) >= 500);
}

/** The ts of the bot's message carrying delivery `key`, posted since `oldest` (epoch seconds), if Slack shows one. */
async function findPosted(client: webApi.WebClient, target: ChatTarget, key: string, oldest: number): Promise<string | undefined> {
  const query = { channel: target.chatId, oldest: String(oldest), include_all_metadata: true, limit: 100 };
  const res = target.threadId ? await client.conversations.replies({ ...query, ts: target.threadId }) : await client.conversations.history(query);
  const hit = (res.messages ?? []).find((m) => {
    const meta = m.metadata as { event_type?: string; event_payload?: { key?: unknown } } | undefined;
    return meta?.event_type === KEY_EVENT && meta.event_payload?.key === key;
  });
  return hit?.ts;
}

/** Replaces a message's text (a draft, with its next text or the reply). */
export async function updateMessage(client: webApi.WebClient, target: ChatTarget, ts: string, text: string): Promise<void> {
  await client.chat.update({ channel: target.chatId, ts, text });
}

/** Deletes a message (a draft that is not needed any more). */
export async function deleteMessage(client: webApi.WebClient, target: ChatTarget, ts: string): Promise<void> {
  await client.chat.delete({ channel: target.chatId, ts });
}

/** Slack's side of the channel outbound worker: mrkdwn parts, thread replies, Block Kit approval buttons. */
export function slackSender(client: webApi.WebClient): ChannelSender {
  return {
    render: (markdown) => renderSlackParts(markdown),
    send: (target, text, o) => postMessage(client, target, text, o.key),
    edit: (target, ts, text) => updateMessage(client, target, ts, text),
    uneditable: isUneditable,
    remove: (target, ts) => deleteMessage(client, target, ts),
    async sendApproval(target, notice) {
      // Cut here only to bound the work on huge arguments: escapeWithin makes the real cut, by
      // code point, where the kit's cut (at a UTF-16 position) could halve a surrogate pair.
      const { tool, argsJson } = approvalSummary(notice.tool, notice.arguments, 2 * SECTION_LIMIT);
      const head = `The assistant wants to run *${escapeMrkdwn(tool)}*:\n\`\`\`\n`;
      // A section block holds 3,000 characters, counted after escaping.
      const text = `${head}${escapeWithin(argsJson, SECTION_LIMIT - head.length - 4)}\n\`\`\``;
      await client.chat.postMessage({
        channel: target.chatId,
        ...thread(target),
        text: `The assistant wants to run ${tool}. Approve or deny?`,
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text } },
          {
            type: 'actions',
            block_id: 'approval',
            elements: [
              { type: 'button', action_id: approvalAction(notice.id, 'approve'), text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'approve' },
              { type: 'button', action_id: approvalAction(notice.id, 'deny'), text: { type: 'plain_text', text: 'Deny' }, style: 'danger', value: 'deny' },
            ],
          },
        ],
      });
    },
    classify: classifySlackError,
  };
}

