import { sessionKey, type Attachment } from '@switchboard/contracts';
import type { NormalizedInbound } from '@switchboard/channels';
import type { WaMedia, WaMessage, WaValue } from './payload.ts';

export type Normalized =
  | { kind: 'message'; message: NormalizedInbound }
  /** A reply-button press (an approval answer); `data` is the button id. */
  | { kind: 'button'; data: string; account: string; userId: string; wamid: string }
  | { kind: 'ignored'; reason: 'unsupported_type' | 'own_number' | 'empty' };

const INBOUND_PREFIX = 'wa-';
const MEDIA_PREFIX = 'whatsapp-media:';

/** Our message id for an inbound WhatsApp message; the outbound worker reads the wamid back to quote it. */
export function inboundId(wamid: string): string {
  return `${INBOUND_PREFIX}${wamid}`;
}

/** The wamid inside an id made by `inboundId`. */
export function wamidFromInbound(id: string): string | undefined {
  return id.startsWith(INBOUND_PREFIX) && id.length > INBOUND_PREFIX.length ? id.slice(INBOUND_PREFIX.length) : undefined;
}

/**
 * A reference to a media object, never a URL: Meta's media URLs only work with the access token, and
 * neither belongs in the model's context. Before the message goes on its lane, `whatsappMedia`
 * replaces it with the stored file's `sb-attachment:` reference.
 */
export function mediaRef(mediaId: string): string {
  return `${MEDIA_PREFIX}${mediaId}`;
}

/** The media id inside a `mediaRef`, or undefined for any other URL. */
export function mediaIdOf(url: string): string | undefined {
  const id = url.startsWith(MEDIA_PREFIX) ? url.slice(MEDIA_PREFIX.length) : '';
  return /^\d{1,32}$/.test(id) ? id : undefined;
}

const MEDIA_KINDS = { image: 'image', document: 'document', audio: 'audio', video: 'video' } as const;

function attachmentOf(kind: Attachment['kind'], media: WaMedia): Attachment {
  return {
    kind,
    url: mediaRef(media.id),
    ...(media.mime_type ? { mimeType: media.mime_type } : {}),
    ...(media.filename ? { name: media.filename } : {}),
  };
}

const digits = (s: string | undefined) => (s ?? '').replace(/\D/g, '');

/**
 * Turns one Cloud API message into the core's message. WhatsApp's Cloud API delivers direct messages
 * only (no group chats), so every conversation is one user with one business number: the session is
 * per (phone number id, wa_id). Media arrive as attachments holding a media reference, with the
 * caption (or a placeholder) as text; a quoted message is noted as `[in reply to message <wamid>]`.
 */
export function normalizeMessage(msg: WaMessage, value: WaValue, receivedAtMs: number): Normalized {
  const account = value.metadata.phone_number_id;
  // The business's own number (message echoes from another app on the same number): never answer ourselves.
  if (value.metadata.display_phone_number && digits(msg.from) === digits(value.metadata.display_phone_number)) {
    return { kind: 'ignored', reason: 'own_number' };
  }
  if (msg.type === 'interactive' && msg.interactive?.type === 'button_reply' && msg.interactive.button_reply) {
    return { kind: 'button', data: msg.interactive.button_reply.id, account, userId: msg.from, wamid: msg.id };
  }
  if (msg.type === 'button' && msg.button?.payload) {
    return { kind: 'button', data: msg.button.payload, account, userId: msg.from, wamid: msg.id };
  }

  let text: string;
  const attachments: Attachment[] = [];
  if (msg.type === 'text' && msg.text) text = msg.text.body;
  else if (msg.type === 'interactive' && msg.interactive?.list_reply) text = msg.interactive.list_reply.title;
  else if (msg.type in MEDIA_KINDS && msg[msg.type as keyof typeof MEDIA_KINDS]) {
    const type = msg.type as keyof typeof MEDIA_KINDS;
    const media = msg[type]!;
    attachments.push(attachmentOf(MEDIA_KINDS[type], media));
    const label = type === 'audio' && media.voice ? 'voice message' : type;
    text = media.caption?.trim() ? media.caption : `[${label}${media.filename ? `: ${media.filename}` : ''}]`;
  } else return { kind: 'ignored', reason: 'unsupported_type' };
  if (text.trim() === '' && attachments.length === 0) return { kind: 'ignored', reason: 'empty' };

  const ctx = msg.context;
  if (ctx?.forwarded || ctx?.frequently_forwarded) text = `[forwarded] ${text}`;
  else if (ctx?.id && digits(ctx.from) !== digits(value.metadata.display_phone_number)) text = `[in reply to message ${ctx.id}] ${text}`;

  const contact = value.contacts?.find((c) => c.wa_id === msg.from) ?? value.contacts?.[0];
  const userName = contact?.profile?.name;
  const chatId = msg.from;
  return {
    kind: 'message',
    message: {
      v: 1,
      id: inboundId(msg.id),
      platform: 'whatsapp',
      sessionKey: sessionKey({ platform: 'whatsapp', account, chatId }),
      account,
      chatId,
      userId: msg.from,
      ...(userName ? { userName } : {}),
      kind: 'user',
      text,
      ...(attachments.length > 0 ? { attachments } : {}),
      isGroup: false,
      receivedAtMs,
      raw: msg,
    },
  };
}
