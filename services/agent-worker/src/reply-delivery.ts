import type { InboundMessage, OutboundReply } from '@switchboard/contracts';

/** Where a turn's reply goes: the fields of an `OutboundReply` that address it. */
export type ReplyAddress = Pick<OutboundReply, 'sessionKey' | 'platform' | 'account' | 'chatId' | 'threadId'>;

/**
 * The address of the reply to a batch of messages of session `sessionKey`. Normally the session's
 * own chat (that of the first message). When every message names the same `deliverTo` (a
 * schedule run whose result goes to a chosen channel and chat), the reply goes there instead: to
 * that platform's outbound queue, and to the event stream of the target's session when it names
 * one (web sessions), else of the turn's own session. A batch that mixes such a run with other
 * messages is answered in the session's own chat, so a person's message is never answered elsewhere.
 */
export function replyAddress(sessionKey: string, messages: readonly InboundMessage[]): ReplyAddress {
  const first = messages[0]!;
  const target = first.deliverTo;
  const same = target !== undefined && messages.every((m) => m.deliverTo !== undefined && JSON.stringify(m.deliverTo) === JSON.stringify(target));
  if (!same) return { sessionKey, platform: first.platform, account: first.account, chatId: first.chatId, threadId: first.threadId };
  return { sessionKey: target.sessionKey ?? sessionKey, platform: target.platform, account: target.account, chatId: target.chatId, threadId: target.threadId };
}
