import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { FakeChats, FakeUpdateQueue, type FakeTelegramFile, type FakeTelegramMessage } from './fake-telegram-state.ts';

export type { FakeTelegramFile, FakeTelegramMessage } from './fake-telegram-state.ts';

/** One Bot API call the fake received, with its parameters parsed from JSON, form or multipart. */
export interface FakeTelegramCall {
  method: string;
  token: string;
  params: Record<string, unknown>;
  atMs: number;
  /** The HTTP status it was answered with; unset while a long poll is held (or the client went away). */
  status?: number;
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
  /** The bot's messages in a chat (or one forum topic), oldest first, as they look now (edits applied). */
  chat(chatId: string | number, threadId?: number): FakeTelegramMessage[];
  /** Every message the bot sent, in any chat. */
  messages(): FakeTelegramMessage[];
  /** Makes a file available to getFile and the file download endpoint; returns what a message would carry. */
  addFile(content: Buffer | string, opts?: { path?: string }): FakeTelegramFile;
  /** File downloads served (`/file/bot<token>/...`), token included in the path as on Telegram. */
  downloads: string[];
  /** Queues an update for getUpdates (an `update_id` is assigned when missing); returns its id. */
  pushUpdate(update: Record<string, unknown>): number;
  /** Ids of queued updates no getUpdates offset has confirmed yet. */
  unconfirmedUpdates(): number[];
  /** The URL of the webhook set with setWebhook, if any (getUpdates answers 409 while one is set). */
  webhookUrl(): string | undefined;
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
 * A Telegram Bot API double at `/bot<token>/<method>`: getMe, sendMessage, deleteMessage, editMessageText (with the
 * chat state it changes), getFile and file downloads, getUpdates long polling, sendChatAction,
 * answerCallbackQuery, setWebhook, deleteWebhook. Answers in the real envelope
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
  const chats = new FakeChats();
  const updates = new FakeUpdateQueue();
  const files = new Map<string, { file: FakeTelegramFile; content: Buffer }>();
  const downloads: string[] = [];
  let webhook: string | undefined;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  /** The result of a call, or a Bot API error (status and description). */
  function answer(call: FakeTelegramCall): unknown {
    const p = call.params;
    const chat = { id: Number(p.chat_id), type: Number(p.chat_id) < 0 ? 'supergroup' : 'private' };
    const from = { id: botId, is_bot: true, first_name: 'Switchboard', username };
    const asMessage = (m: FakeTelegramMessage) => ({
      message_id: m.messageId,
      date: Math.floor(Date.now() / 1000),
      chat,
      from,
      text: m.text,
      ...(m.threadId !== undefined ? { message_thread_id: m.threadId, is_topic_message: true } : {}),
    });
    switch (call.method) {
      case 'getMe':
        return { id: botId, is_bot: true, first_name: 'Switchboard', username, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
      case 'sendMessage':
        return asMessage(chats.post(String(p.chat_id), String(p.text), p));
      case 'editMessageText': {
        const edited = chats.edit(String(p.chat_id), Number(p.message_id), String(p.text ?? ''), p);
        return typeof edited === 'string' ? { error: 400, description: edited } : asMessage(edited);
      }
      case 'deleteMessage': {
        const removed = chats.remove(String(p.chat_id), Number(p.message_id));
        return removed === true ? true : { error: 400, description: removed };
      }
      case 'sendChatAction':
        return typeof p.action === 'string' && p.chat_id !== undefined ? true : { error: 400, description: 'Bad Request: wrong parameter action in request' };
      case 'getFile': {
        const f = files.get(String(p.file_id));
        return f ? f.file : { error: 400, description: 'Bad Request: invalid file_id' };
      }
      case 'setWebhook':
        webhook = String(p.url);
        return true;
      case 'deleteWebhook':
        webhook = undefined;
        return true;
      case 'answerCallbackQuery':
        return true;
      default:
        return undefined;
    }
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
      if (file) {
        const found = [...files.values()].find((f) => f.file.file_path === decodeURIComponent(file[2]!));
        if (file[1] !== opts.token || !found) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
        downloads.push(url.pathname);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(found.content.length) });
        return res.end(found.content);
      }
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
      const reply = (status: number, body: unknown) => {
        call.status = status;
        send(res, status, body);
      };
      if (token !== opts.token) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
      const q = queued.findIndex((f) => f.method === method);
      const failure = q >= 0 ? queued.splice(q, 1)[0]!.failure : failer?.(call, index);
      if (failure) {
        const retry = failure.status === 429 ? { parameters: { retry_after: failure.retryAfterSeconds ?? 1 } } : {};
        const description = failure.description ?? (failure.status === 429 ? `Too Many Requests: retry after ${failure.retryAfterSeconds ?? 1}` : 'Bad Request');
        return reply(failure.status, { ok: false, error_code: failure.status, description, ...retry });
      }
      if (method === 'sendMessage' && (typeof params.text !== 'string' || params.text.length === 0)) {
        return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
      }
      if (method === 'sendMessage' && (params.text as string).length > 4096) {
        return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
      }
      if (method === 'getUpdates') {
        if (webhook) return reply(409, { ok: false, error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
        const got = await updates.get(params, new Promise<void>((resolve) => res.once('close', () => resolve())));
        if ('conflict' in got) return reply(409, { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
        ok.add(call);
        return reply(200, { ok: true, result: got.updates });
      }
      const result = answer(call);
      if (result === undefined) return reply(404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
      if (typeof result === 'object' && result !== null && 'error' in result) {
        const e = result as { error: number; description: string };
        return reply(e.error, { ok: false, error_code: e.error, description: e.description });
      }
      ok.add(call);
      reply(200, { ok: true, result });
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
    chat: (chatId, threadId) => chats.in(String(chatId), threadId),
    messages: () => chats.all(),
    addFile(content, fileOpts = {}) {
      const data = typeof content === 'string' ? Buffer.from(content) : content;
      const unique = createHash('sha256').update(data).digest('hex').slice(0, 16);
      const file: FakeTelegramFile = { file_id: `file-${unique}-${files.size}`, file_unique_id: unique, file_size: data.length, file_path: fileOpts.path ?? `documents/file_${files.size}.bin` };
      files.set(file.file_id, { file, content: data });
      return file;
    },
    downloads,
    pushUpdate: (update) => updates.push(update),
    unconfirmedUpdates: () => updates.unconfirmed(),
    webhookUrl: () => webhook,
    close() {
      updates.drop();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
