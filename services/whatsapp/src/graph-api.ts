/**
 * A small WhatsApp Cloud API client on plain `fetch` (there is no official Node SDK). It speaks the
 * Graph API's JSON and its error envelope, and splits "Meta answered with an error" (with its code)
 * from "Meta could not be reached".
 */
import { readCapped } from '@switchboard/channels';

/** The Graph API's error envelope: `{ error: { message, type, code, error_subcode, fbtrace_id } }`. */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  fbtrace_id?: string;
  error_data?: { details?: string };
}

/** Meta answered with an error. `code` is the Graph/Cloud API error code (130429, 131056, 190...). */
export class GraphApiError extends Error {
  override readonly name = 'GraphApiError';
  readonly status: number;
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly fbtraceId: string | undefined;
  /** From a `Retry-After` header when a proxy or Meta sent one, in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(method: string, status: number, body: GraphErrorBody | undefined, retryAfterMs: number | undefined) {
    const details = body?.error_data?.details ? ` (${body.error_data.details})` : '';
    super(`${method} failed: HTTP ${status}, code ${body?.code ?? '?'}: ${body?.message ?? 'no error body'}${details}`);
    this.status = status;
    this.code = body?.code;
    this.subcode = body?.error_subcode;
    this.fbtraceId = body?.fbtrace_id;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Meta could not be reached (DNS, connection, timeout). Retrying later can help. */
export class GraphUnreachableError extends Error {
  override readonly name = 'GraphUnreachableError';
  constructor(method: string, cause: unknown) {
    super(`${method}: Graph API unreachable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** `POST /{phone-number-id}/messages` answer. */
export interface SendResult {
  messaging_product: 'whatsapp';
  contacts?: Array<{ input: string; wa_id: string }>;
  messages: Array<{ id: string; message_status?: string }>;
}

/** `GET /{media-id}`: a short-lived download URL that itself needs the access token. */
export interface MediaInfo {
  id: string;
  url: string;
  mime_type?: string;
  sha256?: string;
  file_size?: number;
  messaging_product?: string;
}

export type InteractiveButton = { id: string; title: string };

/** WhatsApp limits: reply button id 256 characters, title 20, interactive body 1024, text body 4096. */
export const WHATSAPP_LIMITS = { textBody: 4096, buttonId: 256, buttonTitle: 20, interactiveBody: 1024, maxButtons: 3 } as const;

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export interface GraphApiOptions {
  /** Base URL with the version, e.g. `https://graph.facebook.com/v21.0`. */
  baseUrl: string;
  accessToken: string;
  /** Per-call timeout in ms (default 15000). */
  timeoutMs?: number;
}

export class GraphApi {
  private readonly base: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: GraphApiOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.accessToken;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const label = `${method} ${path.replace(/\?.*$/, '')}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new GraphUnreachableError(label, err);
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (err) {
      if (res.ok) throw new GraphUnreachableError(label, new Error(`HTTP ${res.status} with a body that is not JSON`, { cause: err }));
      parsed = undefined;
    }
    if (!res.ok || (parsed && typeof parsed === 'object' && 'error' in parsed)) {
      const error = (parsed as { error?: GraphErrorBody } | undefined)?.error;
      throw new GraphApiError(label, res.status, error, parseRetryAfter(res.headers.get('retry-after')));
    }
    return parsed as T;
  }

  /** Sends a text message; `quote` is the wamid shown as the quoted message. */
  sendText(phoneNumberId: string, to: string, body: string, quote?: string): Promise<SendResult> {
    return this.call('POST', `/${phoneNumberId}/messages`, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'text',
      text: { body, preview_url: false },
      ...(quote ? { context: { message_id: quote } } : {}),
    });
  }

  /** An interactive message with up to three reply buttons (the press comes back as `button_reply`). */
  sendButtons(phoneNumberId: string, to: string, body: string, buttons: readonly InteractiveButton[]): Promise<SendResult> {
    if (buttons.length < 1 || buttons.length > WHATSAPP_LIMITS.maxButtons) throw new RangeError('1 to 3 reply buttons');
    for (const b of buttons) {
      if (b.id.length > WHATSAPP_LIMITS.buttonId) throw new RangeError(`button id longer than ${WHATSAPP_LIMITS.buttonId} characters`);
      if (b.title.length > WHATSAPP_LIMITS.buttonTitle) throw new RangeError(`button title longer than ${WHATSAPP_LIMITS.buttonTitle} characters`);
    }
    if (body.length > WHATSAPP_LIMITS.interactiveBody) throw new RangeError(`interactive body longer than ${WHATSAPP_LIMITS.interactiveBody} characters`);
    return this.call('POST', `/${phoneNumberId}/messages`, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'interactive',
      interactive: { type: 'button', body: { text: body }, action: { buttons: buttons.map((reply) => ({ type: 'reply', reply })) } },
    });
  }

  /**
   * Marks an inbound message read and shows "typing…" to its sender until we reply or 25 s pass.
   * The Cloud API has no other typing indicator, and none without a message to attach it to.
   */
  async typing(phoneNumberId: string, wamid: string): Promise<void> {
    await this.call('POST', `/${phoneNumberId}/messages`, {
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: wamid,
      typing_indicator: { type: 'text' },
    });
  }

  /** The short-lived download URL and metadata of a media id (the URL still needs the token). */
  getMedia(mediaId: string): Promise<MediaInfo> {
    if (!/^\d{1,32}$/.test(mediaId)) throw new RangeError('media ids are numeric');
    return this.call('GET', `/${mediaId}`);
  }

  /**
   * Downloads a media object's bytes: resolves the id, then fetches the short-lived URL with the
   * token. The URL and the token never leave this client (nor its errors); callers get bytes, or
   * `too_big` when the file is over `maxBytes` (checked before and during the download).
   */
  async downloadMedia(mediaId: string, maxBytes: number): Promise<{ bytes: Buffer; mimeType: string | undefined } | 'too_big'> {
    const info = await this.getMedia(mediaId);
    if (info.file_size !== undefined && info.file_size > maxBytes) return 'too_big';
    let res: Response;
    try {
      res = await fetch(info.url, { headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(this.timeoutMs * 4) });
    } catch (err) {
      // Only the error's name: the message of a failed fetch may carry the URL.
      throw new GraphUnreachableError('GET media download', new Error((err as Error).name));
    }
    if (!res.ok || !res.body) throw new GraphApiError('GET media download', res.status, undefined, undefined);
    const bytes = await readCapped(res.body, maxBytes);
    if (bytes === 'too_big') return 'too_big';
    return { bytes, mimeType: info.mime_type ?? res.headers.get('content-type') ?? undefined };
  }

  /** The business phone number (readiness: the token works and the number exists). */
  phoneNumber(phoneNumberId: string): Promise<{ id: string; display_phone_number?: string; verified_name?: string }> {
    return this.call('GET', `/${phoneNumberId}?fields=display_phone_number,verified_name`);
  }

  /** The token's own user (readiness when no phone number id is configured). */
  me(): Promise<{ id: string; name?: string }> {
    return this.call('GET', '/me');
  }
}
