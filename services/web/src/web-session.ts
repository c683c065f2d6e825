import { sessionKey, type InboundMessage } from '@switchboard/contracts';

/** The platform name of web and API sessions. */
export const WEB_PLATFORM = 'web';

/** Longest text one web message may carry (session messages and chat completions alike). */
export const MAX_MESSAGE_CHARS = 32_000;

/** A normalized inbound message for a web/API session of `account`. */
export function webInbound(account: string, sessionId: string, text: string): Omit<InboundMessage, 'id'> {
  return {
    v: 1,
    platform: WEB_PLATFORM,
    sessionKey: webSessionKey(account, sessionId),
    account,
    chatId: sessionId,
    userId: `${account}/${sessionId}`,
    kind: 'user',
    text,
    receivedAtMs: Date.now(),
  };
}

export function webSessionKey(account: string, sessionId: string): string {
  return sessionKey({ platform: WEB_PLATFORM, account, chatId: sessionId });
}
