import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fakeSlackFiles, type FakeSlackFiles } from './fake-slack-files.ts';
import { attachFakeSocketMode, type FakeSocketMode } from './fake-slack-socket.ts';

/** One Web API call the fake received, with its arguments parsed from the form or JSON body. */
export interface FakeSlackCall {
  method: string;
  token: string | undefined;
  params: Record<string, unknown>;
  atMs: number;
}

/** A scripted failure: HTTP 429 with `Retry-After`, another HTTP status, or Slack's `{ ok: false, error }` envelope. */
/**
 * How the fake fails a call: an HTTP 429 or 5xx, an `ok: false` error, or `answerAfterMs` — the
 * call is carried out, but its answer comes that much later (a client that gives up first cannot
 * tell whether it went through).
 */
export type FakeSlackFailure = { status: 429; retryAfterSeconds: number } | { status: 500 | 502 | 503 } | { error: string } | { answerAfterMs: number };

/** A message the bot shows in a channel, as it stands after edits. */
export interface FakeSlackMessage {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  text: string;
  blocks: unknown[] | undefined;
  /** chat.update calls that changed this message. */
  edits: number;
  /** The `metadata` it was posted with (event_type and event_payload). */
  metadata?: unknown;
}

export interface FakeSlackOptions {
  /** The bot token (`xoxb-…`) the fake accepts. */
  token: string;
  /** The app-level token (`xapp-…`) accepted by apps.connections.open (Socket Mode). */
  appToken?: string;
  teamId?: string;
  botUserId?: string;
  botId?: string;
}

export interface FakeSlack {
  /** Pass as Bolt `clientOptions.slackApiUrl` (SLACK_API_URL); ends in `/`. */
  apiUrl: string;
  teamId: string;
  botUserId: string;
  botId: string;
  /** Every call, in arrival order, failed ones included. */
  calls: FakeSlackCall[];
  /** Calls answered `ok: true`. */
  succeeded(method?: string): FakeSlackCall[];
  /** Messages the bot posted, in order, optionally in one channel (and thread). */
  messages(channel?: string, threadTs?: string | null): FakeSlackMessage[];
  /** Fails the next `n` calls of `method`. */
  failNext(method: string, n: number, failure: FakeSlackFailure): void;
  /** Answers the next `n` chat.postMessage / chat.update calls (whichever come) with 429 and this Retry-After. */
  rateLimitSends(n: number, retryAfterSeconds: number): void;
  /** chat.postMessage and chat.update calls received, 429s included. */
  sendCalls(): number;
  /** The Socket Mode side (apps.connections.open and its WebSocket). */
  socket: FakeSocketMode;
  /** The file host (`url_private` / `url_private_download` of uploaded files), on the same origin. */
  files: FakeSlackFiles;
  close(): Promise<void>;
}

/** The headers Slack sends with a signed request: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`. */
export function slackSignatureHeaders(signingSecret: string, body: string, timestampSec = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSec}:${body}`).digest('hex')}`;
  return { 'x-slack-request-timestamp': String(timestampSec), 'x-slack-signature': signature };
}

const JSON_ARGS = new Set(['blocks', 'attachments', 'metadata', 'unfurls']);

function parseArgs(contentType: string, body: string, url: URL): Record<string, unknown> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  if (!body) return params;
  if (contentType.includes('application/json')) return { ...params, ...(JSON.parse(body) as Record<string, unknown>) };
  for (const [k, v] of new URLSearchParams(body)) params[k] = JSON_ARGS.has(k) ? JSON.parse(v) : v;
  return params;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A Slack Web API double at `/api/<method>`: auth.test, chat.postMessage, chat.update, chat.delete,
 * chat.postEphemeral, conversations.history/replies (the bot's messages) and apps.connections.open (with a Socket Mode WebSocket), plus the file host
 * (`/files-pri/…`, see fake-slack-files.ts). It answers in
 * Slack's envelope (HTTP 200 with `{ ok: true, ... }` or `{ ok: false, error }`; HTTP 429 with a
 * `Retry-After` header in seconds), checks the bearer token, keeps the messages the bot shows, and
 * fails calls on request, so the real Bolt / @slack/web-api client runs against it.
 */
export async function startFakeSlack(opts: FakeSlackOptions): Promise<FakeSlack> {
  const teamId = opts.teamId ?? 'T0TEST0001';
  const botUserId = opts.botUserId ?? 'U0BOT00001';
  const botId = opts.botId ?? 'B0BOT00001';
  const calls: FakeSlackCall[] = [];
  const ok = new WeakSet<FakeSlackCall>();
  const queued: Array<{ methods: string[]; failure: FakeSlackFailure }> = [];
  const posted: FakeSlackMessage[] = [];
  let seq = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  /** Block Kit limits Slack enforces that our messages could hit: section text up to 3,000 characters. */
  const blocksValid = (blocks: unknown[] | undefined) =>
    (blocks ?? []).every((b) => {
      const text = (b as { type?: string; text?: { text?: unknown } }).text?.text;
      return typeof text !== 'string' || text.length <= 3000;
    });

  function answer(call: FakeSlackCall): Record<string, unknown> {
    const p = call.params;
    const channel = typeof p.channel === 'string' ? p.channel : '';
    const text = typeof p.text === 'string' ? p.text : '';
    const blocks = Array.isArray(p.blocks) ? p.blocks : undefined;
    switch (call.method) {
      case 'auth.test':
        return { ok: true, url: 'https://switchboard-test.slack.com/', team: 'Switchboard Test', user: 'switchboard', team_id: teamId, user_id: botUserId, bot_id: botId, is_enterprise_install: false };
      case 'chat.postMessage': {
        if (!/^[CDG][A-Z0-9]{2,}$/.test(channel)) return { ok: false, error: 'channel_not_found' };
        if (!text && !blocks) return { ok: false, error: 'no_text' };
        if (text.length > 40_000) return { ok: false, error: 'msg_too_long' };
        if (!blocksValid(blocks)) return { ok: false, error: 'invalid_blocks' };
        const threadTs = typeof p.thread_ts === 'string' && p.thread_ts ? p.thread_ts : undefined;
        const m: FakeSlackMessage = { channel, ts: nextTs(), threadTs, text, blocks, edits: 0, ...(p.metadata !== undefined ? { metadata: p.metadata } : {}) };
        posted.push(m);
        return { ok: true, channel, ts: m.ts, message: { type: 'message', user: botUserId, bot_id: botId, text, ts: m.ts, ...(threadTs ? { thread_ts: threadTs } : {}), ...(blocks ? { blocks } : {}) } };
      }
      case 'chat.update': {
        const m = posted.find((x) => x.channel === channel && x.ts === p.ts);
        if (!m) return { ok: false, error: 'message_not_found' };
        if (!text && !blocks) return { ok: false, error: 'no_text' };
        if (text.length > 40_000) return { ok: false, error: 'msg_too_long' };
        if (!blocksValid(blocks)) return { ok: false, error: 'invalid_blocks' };
        m.text = text;
        m.blocks = blocks;
        m.edits += 1;
        return { ok: true, channel, ts: m.ts, text, message: { type: 'message', user: botUserId, bot_id: botId, text, ...(blocks ? { blocks } : {}) } };
      }
      case 'chat.delete': {
        const i = posted.findIndex((x) => x.channel === channel && x.ts === p.ts);
        if (i < 0) return { ok: false, error: 'message_not_found' };
        posted.splice(i, 1);
        return { ok: true, channel, ts: p.ts };
      }
      case 'conversations.history':
      case 'conversations.replies': {
        // Newest first, as Slack answers; history shows a channel's top-level messages, replies a thread.
        if (!/^[CDG][A-Z0-9]{2,}$/.test(channel)) return { ok: false, error: 'channel_not_found' };
        const oldest = Number(p.oldest ?? 0);
        const inThread = call.method === 'conversations.replies';
        if (inThread && typeof p.ts !== 'string') return { ok: false, error: 'thread_not_found' };
        const shown = posted
          .filter((x) => x.channel === channel && (inThread ? x.threadTs === p.ts || x.ts === p.ts : x.threadTs === undefined) && Number(x.ts) > oldest)
          .reverse()
          .slice(0, Number(p.limit ?? 100))
          .map((x) => ({ type: 'message', user: botUserId, bot_id: botId, text: x.text, ts: x.ts, ...(x.threadTs ? { thread_ts: x.threadTs } : {}), ...(p.include_all_metadata && x.metadata ? { metadata: x.metadata } : {}) }));
        return { ok: true, messages: shown, has_more: false };
      }
      case 'chat.postEphemeral':
        if (!channel || typeof p.user !== 'string') return { ok: false, error: 'invalid_arguments' };
        return { ok: true, message_ts: nextTs() };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  let port = 0;
  const fileHost = fakeSlackFiles({ token: opts.token, teamId, origin: () => `http://127.0.0.1:${port}` });
  const server = createServer((req, res) => {
    if (fileHost.handle(req, res)) return;
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const m = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname);
      if (!m || req.method !== 'POST') return send(res, 404, { ok: false, error: 'unknown_method' });
      const method = m[1]!;
      let params: Record<string, unknown>;
      try {
        params = parseArgs(req.headers['content-type'] ?? '', await readBody(req), url);
      } catch {
        return send(res, 200, { ok: false, error: 'invalid_form_data' });
      }
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const token = bearer ?? (typeof params.token === 'string' ? params.token : undefined);
      const call: FakeSlackCall = { method, token, params, atMs: Date.now() };
      calls.push(call);
      if (!token) return send(res, 200, { ok: false, error: 'not_authed' });
      if (method === 'apps.connections.open') {
        if (!opts.appToken || token !== opts.appToken) return send(res, 200, { ok: false, error: 'invalid_auth' });
        ok.add(call);
        return send(res, 200, { ok: true, url: socket.nextUrl() });
      }
      if (token !== opts.token) return send(res, 200, { ok: false, error: 'invalid_auth' });
      const q = queued.findIndex((f) => f.methods.includes(method));
      const failure = q >= 0 ? queued.splice(q, 1)[0]!.failure : undefined;
      if (failure && 'answerAfterMs' in failure) {
        const result = answer(call);
        if (result.ok) ok.add(call);
        setTimeout(() => send(res, 200, result), failure.answerAfterMs);
        return;
      }
      if (failure) {
        if ('error' in failure) return send(res, 200, { ok: false, error: failure.error });
        if (failure.status === 429) return send(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfterSeconds) });
        return send(res, failure.status, { ok: false, error: 'internal_error' });
      }
      const result = answer(call);
      if (result.ok) ok.add(call);
      send(res, 200, result);
    })().catch(() => send(res, 500, { ok: false, error: 'internal_error' }));
  });
  const socket = attachFakeSocketMode(server);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  socket.setPort(port);
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    teamId,
    botUserId,
    botId,
    calls,
    succeeded: (method) => calls.filter((c) => ok.has(c) && (method === undefined || c.method === method)),
    messages: (channel, threadTs) =>
      posted.filter((p) => (channel === undefined || p.channel === channel) && (threadTs === undefined || p.threadTs === (threadTs ?? undefined))),
    failNext(method, n, failure) {
      for (let i = 0; i < n; i++) queued.push({ methods: [method], failure });
    },
    rateLimitSends(n, retryAfterSeconds) {
      for (let i = 0; i < n; i++) queued.push({ methods: ['chat.postMessage', 'chat.update'], failure: { status: 429, retryAfterSeconds } });
    },
    sendCalls: () => calls.filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update').length,
    socket,
    files: { addFile: fileHost.addFile, removeFile: fileHost.removeFile, requests: fileHost.requests },
    async close() {
      await socket.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
