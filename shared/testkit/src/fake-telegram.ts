import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** One Bot API call the fake received, with its parameters parsed from JSON, form or multipart. */
export interface FakeTelegramCall {
  method: string;
  token: string;
  params: Record<string, unknown>;
  atMs: number;
}

/** A scripted failure: the Bot API's error envelope with this status (429 gets `retry_after`). */
export interface FakeTelegramFailure {
  status: number;
  description?: string;
  retryAfterSeconds?: number;
}

/** Decides, per call, whether to fail it; return undefined to answer normally. */
export type FakeTelegramFailer = (call: FakeTelegramCall, index: number) => FakeTelegramFailure | undefined;

export interface FakeTelegramOptions {
  token: string;
  /** The bot's username (getMe), default `switchboard_test_bot`. */
  username?: string;
}

export interface FakeTelegram {
  /** Pass as grammY `client.apiRoot` (TELEGRAM_API_ROOT). */
  apiRoot: string;
  /** Every call, in arrival order, failed ones included. */
  calls: FakeTelegramCall[];
  /** Calls answered `ok: true`. */
  succeeded(method?: string): FakeTelegramCall[];
  /** Fails the next `n` calls of `method` with `failure`. */
  failNext(method: string, n: number, failure: FakeTelegramFailure): void;
  /** Replaces any queued failures with a function consulted on every call. */
  setFailer(failer: FakeTelegramFailer | undefined): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Form values that look like JSON (objects, arrays, numbers, booleans) are decoded, as Telegram does. */
function decodeValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function parseParams(contentType: string, body: string, url: URL): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of url.searchParams) params[k] = decodeValue(v);
  if (!body) return params;
  if (contentType.includes('application/json')) return { ...params, ...(JSON.parse(body) as Record<string, unknown>) };
  if (contentType.includes('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body)) params[k] = decodeValue(v);
    return params;
  }
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (contentType.includes('multipart/form-data') && boundary) {
    for (const part of body.split(`--${boundary[1] ?? boundary[2]}`)) {
      const m = /name="([^"]+)"(?:; filename="[^"]*")?\r\n(?:[^\r\n]+\r\n)*\r\n([\s\S]*)\r\n$/.exec(part);
      if (m) params[m[1]!] = /filename=/.test(part) ? { file: true } : decodeValue(m[2]!);
    }
  }
  return params;
}

/**
 * A Telegram Bot API double at `/bot<token>/<method>`: getMe, sendMessage, editMessageText,
 * sendChatAction, answerCallbackQuery, setWebhook, deleteWebhook. Answers in the real envelope
 * (`{ ok, result }` / `{ ok: false, error_code, description, parameters }`), records every call and
 * fails calls on request, so the real grammY client runs against it.
 */
export async function startFakeTelegram(opts: FakeTelegramOptions): Promise<FakeTelegram> {
  const botId = Number(opts.token.split(':')[0]);
  const username = opts.username ?? 'switchboard_test_bot';
  const calls: FakeTelegramCall[] = [];
  const ok = new WeakSet<FakeTelegramCall>();
  const queued: Array<{ method: string; failure: FakeTelegramFailure }> = [];
  let failer: FakeTelegramFailer | undefined;
  let nextMessageId = 1000;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  function answer(call: FakeTelegramCall): unknown {
    const p = call.params;
    const chat = { id: Number(p.chat_id), type: Number(p.chat_id) < 0 ? 'supergroup' : 'private' };
    const from = { id: botId, is_bot: true, first_name: 'Switchboard', username };
    switch (call.method) {
      case 'getMe':
        return { id: botId, is_bot: true, first_name: 'Switchboard', username, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
      case 'sendMessage':
        nextMessageId += 1;
        return { message_id: nextMessageId, date: Math.floor(Date.now() / 1000), chat, from, text: String(p.text ?? '') };
      case 'editMessageText':
        return { message_id: Number(p.message_id), date: Math.floor(Date.now() / 1000), chat, from, text: String(p.text ?? '') };
      case 'sendChatAction':
      case 'answerCallbackQuery':
      case 'setWebhook':
      case 'deleteWebhook':
        return true;
      default:
        return undefined;
    }
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
      if (!m) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
      const [, token, method] = m as unknown as [string, string, string];
      let params: Record<string, unknown>;
      try {
        params = parseParams(req.headers['content-type'] ?? '', await readBody(req), url);
      } catch {
        return send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid body' });
      }
      const call: FakeTelegramCall = { method, token, params, atMs: Date.now() };
      const index = calls.push(call) - 1;
      if (token !== opts.token) return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
      const q = queued.findIndex((f) => f.method === method);
      const failure = q >= 0 ? queued.splice(q, 1)[0]!.failure : failer?.(call, index);
      if (failure) {
        const retry = failure.status === 429 ? { parameters: { retry_after: failure.retryAfterSeconds ?? 1 } } : {};
        const description = failure.description ?? (failure.status === 429 ? `Too Many Requests: retry after ${failure.retryAfterSeconds ?? 1}` : 'Bad Request');
        return send(res, failure.status, { ok: false, error_code: failure.status, description, ...retry });
      }
      if (method === 'sendMessage' && (typeof params.text !== 'string' || params.text.length === 0)) {
        return send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
      }
      if (method === 'sendMessage' && (params.text as string).length > 4096) {
        return send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
      }
      const result = answer(call);
      if (result === undefined) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
      ok.add(call);
      send(res, 200, { ok: true, result });
    })().catch(() => send(res, 500, { ok: false, error_code: 500, description: 'Internal Server Error' }));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    succeeded: (method) => calls.filter((c) => ok.has(c) && (method === undefined || c.method === method)),
    failNext(method, n, failure) {
      for (let i = 0; i < n; i++) queued.push({ method, failure });
    },
    setFailer(f) {
      queued.length = 0;
      failer = f;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
