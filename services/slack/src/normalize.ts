import { sessionKey, type Attachment } from '@switchboard/contracts';
import type { NormalizedInbound } from '@switchboard/channels';
import type { SlackFile, SlackMessage, SlackMessageEvent } from './events.ts';
import type { SlackFileRef } from './files.ts';

/** Who the bot is in its workspace, from auth.test. */
export interface SlackIdentity {
  teamId: string;
  /** The bot user (U…): mentions look like `<@U…>`. */
  botUserId: string;
  /** The bot id (B…) on messages the bot posted. */
  botId: string | undefined;
}

export interface NormalizeOptions {
  /** In channels, one session per user (SLACK_GROUP_SESSION_PER_USER). */
  groupSessionPerUser: boolean;
}

export type Normalized =
  | {
      kind: 'message';
      message: NormalizedInbound;
      isPrivate: boolean;
      mentioned: boolean;
      /** The message's identity (channel and ts): an edit, an app_mention twin and a retry all share it. */
      deliveryId: string;
      /** Files to download before the message goes on its lane (they are not in `message` yet). */
      files: SlackFileRef[];
    }
  | { kind: 'ignored'; reason: 'from_bot' | 'own_message' | 'subtype' | 'no_content' | 'unchanged_edit' };

/** Subtypes that are a person speaking; every other subtype (joins, topic changes, deletions...) is ignored. */
const SPOKEN_SUBTYPES = new Set(['file_share', 'thread_broadcast', 'me_message']);

/** Our message id for a Slack message: unique per workspace, channel and ts. */
export function inboundId(teamId: string, channel: string, ts: string): string {
  return `slack-${teamId}-${channel}-${ts}`;
}

/**
 * Slack message markup as plain text for the model: the bot's own mention is dropped, other
 * mentions, channels and links become readable, and `&amp;`-style escapes are undone.
 */
export function plainText(text: string, botUserId: string): string {
  return text
    .replace(new RegExp(`<@${botUserId}(\\|[^>]*)?>\\s*`, 'g'), '')
    .replace(/<@([UW][A-Z0-9]+)\|([^>]+)>/g, '@$2')
    .replace(/<@([UW][A-Z0-9]+)>/g, '@$1')
    .replace(/<#([CGD][A-Z0-9]+)\|([^>]*)>/g, (_m, id: string, name: string) => `#${name || id}`)
    .replace(/<#([CGD][A-Z0-9]+)>/g, '#$1')
    .replace(/<!(here|channel|everyone)(\|[^>]*)?>/g, '@$1')
    .replace(/<!subteam\^[A-Z0-9]+\|([^>]+)>/g, '$1')
    .replace(/<!date\^[^|>]*\|([^>]+)>/g, '$1')
    .replace(/<mailto:([^|>]+)\|([^>]+)>/g, '$2')
    .replace(/<((?:https?|ftp):[^|>\s]+)\|([^>]+)>/g, (_m, url: string, label: string) => (label === url ? url : `${label} (${url})`))
    .replace(/<((?:https?|ftp):[^>\s]+)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

function attachmentKind(mime: string | undefined): Attachment['kind'] {
  if (!mime) return 'other';
  if (mime.startsWith('image/')) return 'image';
  if (mime.startsWith('audio/')) return 'audio';
  if (mime.startsWith('video/')) return 'video';
  if (/^(application|text)\//.test(mime)) return 'document';
  return 'other';
}

/**
 * The files of a message, to be downloaded with the bot token (files.ts). Files Slack withholds from
 * the event (`file_access: check_file_info`, deleted `tombstone`s) carry no URL and become a note.
 */
export function fileRefsOf(files: readonly SlackFile[] | undefined): SlackFileRef[] {
  return (files ?? []).map((f) => {
    const name = f.name ?? f.title;
    return {
      id: f.id,
      kind: attachmentKind(f.mimetype),
      url: f.mode === 'tombstone' ? undefined : (f.url_private_download ?? f.url_private),
      ...(f.mimetype ? { mimeType: f.mimetype } : {}),
      ...(name ? { name } : {}),
      ...(f.size !== undefined ? { sizeBytes: f.size } : {}),
    };
  });
}

/**
 * Turns a `message` or `app_mention` event into the core's message. A DM is one session per user
 * (its IM channel), a channel one session (or one per user, if configured), and each thread
 * (`thread_ts`) a session of its own. Bots' messages, this bot's included, are ignored so two bots
 * never talk to each other in a loop. An edit (`message_changed`) keeps the original message's
 * identity: if the original already reached the model the edit is a duplicate, and if it did not
 * (a channel message that forgot the mention) the edited text is handled as the message.
 */
export function normalizeSlackEvent(ev: SlackMessageEvent, bot: SlackIdentity, opts: NormalizeOptions, receivedAtMs: number): Normalized {
  let msg: SlackMessage = ev;
  if (ev.subtype === 'message_changed') {
    if (!ev.message) return { kind: 'ignored', reason: 'subtype' };
    msg = ev.message;
    // Slack also reports link unfurls and our own draft edits as changes; only new words count.
    if (ev.previous_message?.text === msg.text) return { kind: 'ignored', reason: 'unchanged_edit' };
  }
  if (msg.bot_id || msg.bot_profile || msg.subtype === 'bot_message') {
    return { kind: 'ignored', reason: msg.bot_id && msg.bot_id === bot.botId ? 'own_message' : 'from_bot' };
  }
  if (ev.subtype && ev.subtype !== 'message_changed' && !SPOKEN_SUBTYPES.has(ev.subtype)) return { kind: 'ignored', reason: 'subtype' };
  if (!msg.user) return { kind: 'ignored', reason: 'from_bot' };
  if (msg.user === bot.botUserId) return { kind: 'ignored', reason: 'own_message' };
  const channel = ev.channel;
  const isPrivate = ev.channel_type === 'im' || (ev.channel_type === undefined && channel.startsWith('D'));
  const raw = msg.text ?? '';
  const mentioned =
    !isPrivate && (ev.type === 'app_mention' || new RegExp(`<@${bot.botUserId}(\\|[^>]*)?>`).test(raw) || msg.parent_user_id === bot.botUserId);
  const files = fileRefsOf(msg.files);
  let text = plainText(raw, bot.botUserId);
  // A file shared without a comment still needs words: the agent lists each downloaded file itself.
  if (text === '' && files.length > 0) text = `(${files.length === 1 ? 'file' : 'files'} ${files.map((f) => f.name ?? f.kind).join(', ')})`;
  if (text === '') return { kind: 'ignored', reason: 'no_content' };
  // A thread's parent carries thread_ts === ts once it has replies; it still belongs to the channel.
  const threadId = msg.thread_ts && msg.thread_ts !== msg.ts ? msg.thread_ts : undefined;
  const userScope = !isPrivate && opts.groupSessionPerUser ? msg.user : undefined;
  const profile = (msg as { user_profile?: { display_name?: string; real_name?: string } }).user_profile;
  const userName = profile?.display_name || profile?.real_name || undefined;
  return {
    kind: 'message',
    isPrivate,
    mentioned,
    deliveryId: `${channel}-${msg.ts}`,
    files,
    message: {
      v: 1,
      id: inboundId(bot.teamId, channel, msg.ts),
      platform: 'slack',
      sessionKey: sessionKey({ platform: 'slack', account: bot.teamId, chatId: channel, threadId, userId: userScope }),
      account: bot.teamId,
      chatId: channel,
      ...(threadId ? { threadId } : {}),
      userId: msg.user,
      ...(userName ? { userName } : {}),
      kind: 'user',
      text,
      isGroup: !isPrivate,
      receivedAtMs,
      raw: ev,
    },
  };
}
