import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** One Graph API call the fake received. */
export interface FakeWhatsAppCall {
  method: string;
  /** Path without the version prefix, e.g. `/1234/messages`. */
  path: string;
  token: string | undefined;
  body: Record<string, unknown>;
  atMs: number;
}

/** A scripted failure in the Graph API's error envelope. */
export interface FakeWhatsAppFailure {
  /** HTTP status (default 400; 429 when `code` is 130429 and no status is given). */
  status?: number;
  /** Graph error code: 130429 throughput, 131056 pair rate limit, 131047 outside the 24 h window, 100, 190... */
  code: number;
  message?: string;
  subcode?: number;
  /** Sent as a `Retry-After` header (seconds, may be fractional); Meta itself does not send one. */
  retryAfterSeconds?: number;
}

/** Which calls a queued failure applies to. */
export type FakeWhatsAppCallKind = 'message' | 'typing' | 'media' | 'any';

export interface FakeWhatsAppOptions {
  accessToken: string;
  phoneNumberId: string;
  /** The business number as users see it (digits), default `15550001234`. */
  displayPhoneNumber?: string;
}

/** A message the bot sent to a user, as the user sees it. */
export interface FakeWhatsAppSent {
  wamid: string;
  to: string;
  type: 'text' | 'interactive';
  text: string;
  /** The quoted message (`context.message_id`). */
  quote: string | undefined;
  /** Reply buttons of an interactive message. */
  buttons: Array<{ id: string; title: string }>;
}

export interface FakeWhatsApp {
  /** Pass as WHATSAPP_API_URL (version included). */
  apiUrl: string;
  calls: FakeWhatsAppCall[];
  /** Messages accepted (text and interactive), in order. */
  sent: FakeWhatsAppSent[];
  /** wamids that got a typing indicator (and were marked read), in order. */
  typing: string[];
  /** Registers media the fake serves at `GET /{media-id}` and its download URL. */
  /** Serves `data` as media `id`; its download answers after `delayMs` (a slow CDN). */
  addMedia(id: string, data: Buffer, mimeType: string, delayMs?: number): void;
  /** Fails the next `n` calls of `kind` with `failure`. */
  failNext(kind: FakeWhatsAppCallKind, n: number, failure: FakeWhatsAppFailure): void;
  close(): Promise<void>;
}

const VERSION_PREFIX = '/v21.0';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A wamid as Meta makes them: `wamid.` and base64 of an opaque id. */
export function fakeWamid(): string {
  return `wamid.${Buffer.from(`HBgL${randomBytes(18).toString('hex')}`).toString('base64')}`;
}

/**
 * A WhatsApp Cloud API (Graph API) double: `POST /{phone-number-id}/messages` (text, interactive
 * reply buttons, read receipts with a typing indicator), `GET /{phone-number-id}`, `GET /me`,
 * `GET /{media-id}` and the media download. Answers like Meta (`{ messaging_product, contacts,
 * messages: [{ id: 'wamid…' }] }` or `{ error: { message, type, code, error_subcode, fbtrace_id } }`),
 * enforces the documented limits, records every call and fails calls on request (429 storms).
 */
export async function startFakeWhatsApp(opts: FakeWhatsAppOptions): Promise<FakeWhatsApp> {
  const calls: FakeWhatsAppCall[] = [];
  const sent: FakeWhatsAppSent[] = [];
  const typing: string[] = [];
  const media = new Map<string, { data: Buffer; mimeType: string; delayMs?: number | undefined }>();
  const queued: Array<{ kind: FakeWhatsAppCallKind; failure: FakeWhatsAppFailure }> = [];
  let base = '';

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const graphError = (res: ServerResponse, f: FakeWhatsAppFailure) => {
    const status = f.status ?? (f.code === 130429 ? 429 : 400);
    json(
      res,
      status,
      { error: { message: f.message ?? `(#${f.code}) error`, type: 'OAuthException', code: f.code, ...(f.subcode ? { error_subcode: f.subcode } : {}), fbtrace_id: `A${randomBytes(8).toString('hex')}` } },
      f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : {},
    );
  };
  const invalid = (res: ServerResponse, message: string) => graphError(res, { code: 100, message: `(#100) ${message}` });

  function kindOf(call: FakeWhatsAppCall): FakeWhatsAppCallKind {
    if (call.method === 'POST' && call.body.status === 'read') return 'typing';
    if (call.method === 'POST') return 'message';
    return 'media';
  }

  function handleMessages(call: FakeWhatsAppCall, res: ServerResponse): void {
    const b = call.body;
    if (b.messaging_product !== 'whatsapp') return invalid(res, 'The parameter messaging_product is required.');
    if (b.status === 'read') {
      if (typeof b.message_id !== 'string') return invalid(res, 'The parameter message_id is required.');
      if (b.typing_indicator !== undefined) typing.push(b.message_id);
      return json(res, 200, { success: true });
    }
    const to = typeof b.to === 'string' ? b.to : '';
    if (!/^\+?\d{5,20}$/.test(to)) return invalid(res, 'Invalid parameter: to');
    const quote = (b.context as { message_id?: string } | undefined)?.message_id;
    let msg: FakeWhatsAppSent;
    const wamid = fakeWamid();
    if (b.type === 'text') {
      const body = (b.text as { body?: unknown } | undefined)?.body;
      if (typeof body !== 'string' || body.length === 0) return invalid(res, 'The parameter text[\'body\'] is required.');
      if (body.length > 4096) return invalid(res, 'Param text[\'body\'] must be at most 4096 characters long.');
      msg = { wamid, to, type: 'text', text: body, quote, buttons: [] };
    } else if (b.type === 'interactive') {
      const i = b.interactive as { type?: string; body?: { text?: string }; action?: { buttons?: Array<{ type?: string; reply?: { id?: string; title?: string } }> } } | undefined;
      if (i?.type !== 'button') return invalid(res, 'Only interactive type button is supported by this double.');
      const text = i.body?.text;
      if (typeof text !== 'string' || text.length === 0 || text.length > 1024) return invalid(res, 'Param interactive[\'body\'][\'text\'] must be 1-1024 characters long.');
      const buttons = i.action?.buttons ?? [];
      if (buttons.length < 1 || buttons.length > 3) return invalid(res, 'Param interactive[\'action\'][\'buttons\'] must have 1-3 buttons.');
      const out: Array<{ id: string; title: string }> = [];
      for (const btn of buttons) {
        const id = btn.reply?.id;
        const title = btn.reply?.title;
        if (btn.type !== 'reply' || typeof id !== 'string' || typeof title !== 'string') return invalid(res, 'Buttons need type reply with an id and a title.');
        if (id.length > 256) return invalid(res, 'Button id must be at most 256 characters long.');
        if (title.length === 0 || title.length > 20) return invalid(res, 'Button title must be 1-20 characters long.');
        out.push({ id, title });
      }
      if (new Set(out.map((o) => o.id)).size !== out.length) return invalid(res, 'Button ids must be unique.');
      msg = { wamid, to, type: 'interactive', text, quote, buttons: out };
    } else return invalid(res, `Unsupported message type ${String(b.type)} in this double.`);
    sent.push(msg);
    json(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to.replace(/^\+/, '') }], messages: [{ id: wamid }] });
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const download = /^\/media-download\/(\d+)$/.exec(url.pathname);
      if (download) {
        if (auth !== opts.accessToken) return json(res, 401, { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } });
        const m = media.get(download[1]!);
        if (!m) return json(res, 404, { error: { message: 'not found', type: 'OAuthException', code: 100 } });
        if (m.delayMs) await new Promise((r) => setTimeout(r, m.delayMs));
        res.writeHead(200, { 'content-type': m.mimeType, 'content-length': String(m.data.length) });
        return res.end(m.data);
      }
      if (!url.pathname.startsWith(`${VERSION_PREFIX}/`)) return json(res, 400, { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500 } });
      const path = url.pathname.slice(VERSION_PREFIX.length);
      const raw = await readBody(req);
      let body: Record<string, unknown>;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        return invalid(res, 'Request body is not JSON.');
      }
      const call: FakeWhatsAppCall = { method: req.method ?? 'GET', path, token: auth, body, atMs: Date.now() };
      calls.push(call);
      if (auth !== opts.accessToken) return graphError(res, { status: 401, code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
      const q = queued.findIndex((f) => f.kind === 'any' || f.kind === kindOf(call));
      if (q >= 0) return graphError(res, queued.splice(q, 1)[0]!.failure);
      if (call.method === 'POST' && path === `/${opts.phoneNumberId}/messages`) return handleMessages(call, res);
      if (call.method === 'POST' && /^\/\d+\/messages$/.test(path)) return graphError(res, { code: 100, message: 'Unsupported post request. Object does not exist.', subcode: 33 });
      if (call.method === 'GET' && path === '/me') return json(res, 200, { id: '100000000000001', name: 'Switchboard system user' });
      if (call.method === 'GET' && path === `/${opts.phoneNumberId}`) {
        return json(res, 200, { id: opts.phoneNumberId, display_phone_number: opts.displayPhoneNumber ?? '15550001234', verified_name: 'Switchboard' });
      }
      const mediaId = /^\/(\d+)$/.exec(path)?.[1];
      if (call.method === 'GET' && mediaId && media.has(mediaId)) {
        const m = media.get(mediaId)!;
        return json(res, 200, { messaging_product: 'whatsapp', url: `${base}/media-download/${mediaId}`, mime_type: m.mimeType, sha256: 'fake', file_size: m.data.length, id: mediaId });
      }
      graphError(res, { code: 100, message: 'Unsupported get request. Object does not exist.', subcode: 33 });
    })().catch(() => json(res, 500, { error: { message: 'An unknown error occurred', type: 'OAuthException', code: 1 } }));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    apiUrl: `${base}${VERSION_PREFIX}`,
    calls,
    sent,
    typing,
    addMedia(id, data, mimeType, delayMs) {
      media.set(id, { data, mimeType, delayMs });
    },
    failNext(kind, n, failure) {
      for (let i = 0; i < n; i++) queued.push({ kind, failure });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Serializes a webhook body the way Meta does (non-ASCII escaped as `\uXXXX`) and signs those exact
 * bytes: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 under the app secret>`.
 */
export function signWhatsAppWebhook(payload: unknown, appSecret: string): { body: string; signature: string } {
  const body = JSON.stringify(payload).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return { body, signature: `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}` };
}

/** A `messages` webhook like Meta's documented examples, wrapping one message from `from`. */
export function whatsappMessageWebhook(opts: {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  from: string;
  name?: string;
  message: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: opts.displayPhoneNumber ?? '15550001234', phone_number_id: opts.phoneNumberId },
              contacts: [{ profile: { name: opts.name ?? `User ${opts.from.slice(-4)}` }, wa_id: opts.from }],
              messages: [{ from: opts.from, timestamp: String(Math.floor(Date.now() / 1000)), ...opts.message }],
            },
          },
        ],
      },
    ],
  };
}
