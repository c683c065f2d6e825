import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/*
 * A Discord double: the REST API (v10) the bot calls and a gateway WebSocket speaking the real
 * protocol (HELLO, IDENTIFY, READY, heartbeats, RESUME with replay, sequence numbers), so the real
 * discord.js client runs against it through `rest: { api }` and `GET /gateway/bot`.
 */

/** One REST call the fake received (429 answers included). */
export interface FakeDiscordCall {
  method: string;
  /** Path after `/api/v10`, e.g. `/channels/123/messages`. */
  path: string;
  body: Record<string, unknown> | undefined;
  status: number;
  atMs: number;
}

/** A message as the fake stores it (after edits). */
export interface FakeDiscordMessage {
  id: string;
  channel_id: string;
  content: string;
  components: unknown[];
  message_reference?: { message_id?: string } | undefined;
  nonce?: string | number | undefined;
  /** How many times it was edited. */
  edits: number;
}

/**
 * An answer to an interaction: the callback (`POST /interactions/{id}/{token}/callback`, `type` is
 * the callback type), or later through its webhook: an edit of the original message
 * (`PATCH /webhooks/{app}/{token}/messages/@original`, type `edit_original`) or a follow-up
 * (`POST /webhooks/{app}/{token}`, type `followup`).
 */
export interface FakeDiscordInteractionReply {
  interactionId: string;
  type: number | 'edit_original' | 'followup';
  data: Record<string, unknown> | undefined;
}

export interface FakeDiscordUser {
  id: string;
  username: string;
  bot?: boolean;
  global_name?: string | null;
}

export interface FakeDiscordOptions {
  token: string;
  /** The bot user; its id must be the one encoded in the token's first part. */
  bot: FakeDiscordUser;
  /** One guild the bot is in, with text channels and threads (sent as GUILD_CREATE after READY). */
  guild?: { id: string; name?: string; channels: Array<{ id: string; name: string }>; threads?: Array<{ id: string; parentId: string; name: string }>; botRoleId?: string };
  /** HELLO's heartbeat interval, in ms (default 41250 as Discord sends). */
  heartbeatIntervalMs?: number;
}

/** A file to put on the fake's CDN (`addAttachment`). */
export interface FakeDiscordFileOptions {
  filename: string;
  /** Sent as the attachment's `content_type` and served as Content-Type; none when omitted. */
  contentType?: string;
  /** The channel the message is in (part of the URL, as on Discord's CDN; default 0). */
  channelId?: string;
  /** The size declared in the attachment object (default the real size). */
  declaredSize?: number;
  /** Answer 302 to this URL instead of the file. */
  redirectTo?: string;
  /** Answer with this status instead of the file. */
  status?: number;
  /** Holds the answer back this long, in ms (a slow download). */
  delayMs?: number;
}

/** An attachment object as the gateway puts it into a message's `attachments` (API v10). */
export interface FakeDiscordAttachment {
  id: string;
  filename: string;
  size: number;
  /** The signed CDN link (`/attachments/{channel}/{id}/{filename}?ex=…&is=…&hm=…`), on the fake's origin. */
  url: string;
  proxy_url: string;
  content_type?: string;
}

/** One request to the fake's CDN. */
export interface FakeDiscordFileRequest {
  path: string;
  /** The Authorization header sent, if any (the CDN needs none). */
  authorization: string | undefined;
  status: number;
}

export interface FakeDiscord {
  /** Puts a file on the fake's CDN; returns the attachment object to put into a message. */
  addAttachment(data: Buffer | string, opts: FakeDiscordFileOptions): FakeDiscordAttachment;
  /** Every request to the CDN, in arrival order. */
  fileRequests: FakeDiscordFileRequest[];
  /** Pass as discord.js `rest: { api }` (DISCORD_API_URL). */
  apiUrl: string;
  /** The gateway URL `GET /gateway/bot` returns. */
  gatewayUrl: string;
  calls: FakeDiscordCall[];
  /** Messages per channel, in creation order, with their current (edited) content. */
  messages(channelId: string): FakeDiscordMessage[];
  interactionReplies: FakeDiscordInteractionReply[];
  /** `GET /channels/{id}/messages` reads, in order (`after` null when not given). */
  historyReads: Array<{ channelId: string; after: string | null; limit: number }>;
  /** IDENTIFY payloads received, in order. */
  identifies: Array<Record<string, unknown>>;
  /** RESUME payloads received, in order. */
  resumes: Array<Record<string, unknown>>;
  /** Answers the next `n` message sends/edits with 429 and this retry-after (route bucket, or global). */
  rateLimitNext(n: number, retryAfterMs: number, opts?: { global?: boolean }): void;
  /** Makes the next `n` message sends time out: the message is created, but the answer never comes. */
  swallowNext(n: number): void;
  /**
   * Dispatches a gateway event (op 0) with the next sequence number to the shard that owns it. A
   * MESSAGE_CREATE also enters its channel's history (`GET /channels/{id}/messages`), and may be
   * dispatched while no client is connected (someone wrote while the bot was away): it is then
   * logged to the last session (a RESUME replays it, a fresh IDENTIFY does not) and returns 0.
   */
  dispatch(t: string, d: unknown, opts?: { guildId?: string }): number;
  /** Closes the gateway connection with `code` (default 4000: the client resumes). */
  dropConnection(code?: number): void;
  /** On the next RESUME, replays the last `n` dispatches even though the client had them (a gateway redelivery). */
  replayOnResume(n: number): void;
  /** Resolves once this many READY/RESUMED handshakes have completed in total. */
  waitForSessions(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

let snowflakeCounter = 0n;
/** A fresh snowflake (timestamp-based, unique within the process). */
export function fakeSnowflake(): string {
  snowflakeCounter += 1n;
  return String(((BigInt(Date.now()) - 1420070400000n) << 22n) | (snowflakeCounter & 0x3fffffn));
}

const API_PREFIX = '/api/v10';

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  return JSON.parse(text) as Record<string, unknown>;
}

interface Session {
  id: string;
  shard: [number, number];
  seq: number;
  /** Dispatches of this session, for RESUME replays. */
  log: Array<{ s: number; t: string; d: unknown }>;
  socket: WebSocket | undefined;
}

/** Starts the double on a free loopback port. */
export async function startFakeDiscord(opts: FakeDiscordOptions): Promise<FakeDiscord> {
  const calls: FakeDiscordCall[] = [];
  const byChannel = new Map<string, FakeDiscordMessage[]>();
  const byId = new Map<string, FakeDiscordMessage>();
  const nonces = new Map<string, FakeDiscordMessage>();
  /** Every message of a channel in creation order (users' from MESSAGE_CREATE dispatches, the bot's own), for history reads. */
  const history = new Map<string, Array<{ id: string; read: () => Record<string, unknown> }>>();
  const addHistory = (channelId: string, id: string, read: () => Record<string, unknown>) => {
    const list = history.get(channelId) ?? [];
    list.push({ id, read });
    history.set(channelId, list);
  };
  const interactionReplies: FakeDiscordInteractionReply[] = [];
  const historyReads: Array<{ channelId: string; after: string | null; limit: number }> = [];
  const identifies: Array<Record<string, unknown>> = [];
  const resumes: Array<Record<string, unknown>> = [];
  const sessions = new Map<string, Session>();
  /** Interactions dispatched: their token and the message their component is on. */
  const interactions = new Map<string, { token: string; messageId: string | undefined }>();
  const limits: Array<{ retryAfterMs: number; global: boolean }> = [];
  let swallow = 0;
  let replayExtra = 0;
  let handshakes = 0;
  const handshakeWaiters: Array<() => void> = [];
  const bot = { ...opts.bot, bot: true, discriminator: '0', avatar: null, global_name: opts.bot.global_name ?? null };
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 41_250;
  let gatewayUrl = '';
  let origin = '';
  const files = new Map<string, { data: Buffer; opts: FakeDiscordFileOptions }>();
  const fileRequests: FakeDiscordFileRequest[] = [];

  /** Discord's CDN: `GET /attachments/{channel}/{attachment}/{filename}` (the signature query is not checked). */
  function handleFile(req: IncomingMessage, res: ServerResponse, path: string): void {
    const file = files.get(path);
    const request: FakeDiscordFileRequest = { path, authorization: req.headers.authorization, status: 200 };
    fileRequests.push(request);
    const reply = (status: number, headers: Record<string, string>, body?: Buffer | string) => {
      request.status = status;
      res.writeHead(status, headers).end(body);
    };
    if (!file || req.method !== 'GET') return reply(404, { 'content-type': 'text/plain' }, 'Not Found');
    const answer = () => {
      if (file.opts.redirectTo) return reply(302, { location: file.opts.redirectTo });
      if (file.opts.status) return reply(file.opts.status, { 'content-type': 'text/plain' }, 'error');
      reply(200, { 'content-length': String(file.data.length), 'content-type': file.opts.contentType ?? 'application/octet-stream' }, file.data);
    };
    if (file.opts.delayMs) setTimeout(answer, file.opts.delayMs);
    else answer();
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    // A 204 has no body and, as from Discord, no content type.
    res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const bucketHeaders = (route: string, remaining: number, resetAfterS: number) => ({
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset-after': String(resetAfterS),
    'x-ratelimit-reset': String(Date.now() / 1000 + resetAfterS),
    'x-ratelimit-bucket': Buffer.from(route).toString('hex').slice(0, 32),
  });

  function storeMessage(channelId: string, body: Record<string, unknown>): FakeDiscordMessage {
    const msg: FakeDiscordMessage = {
      id: fakeSnowflake(),
      channel_id: channelId,
      content: typeof body.content === 'string' ? body.content : '',
      components: Array.isArray(body.components) ? body.components : [],
      message_reference: body.message_reference as FakeDiscordMessage['message_reference'],
      nonce: body.nonce as string | number | undefined,
      edits: 0,
    };
    const list = byChannel.get(channelId) ?? [];
    list.push(msg);
    byChannel.set(channelId, list);
    byId.set(msg.id, msg);
    addHistory(channelId, msg.id, () => wire(msg));
    return msg;
  }
  const wire = (m: FakeDiscordMessage) => ({
    id: m.id,
    type: m.message_reference ? 19 : 0,
    channel_id: m.channel_id,
    content: m.content,
    components: m.components,
    author: bot,
    attachments: [],
    embeds: [],
    mentions: [],
    mention_roles: [],
    mention_everyone: false,
    pinned: false,
    tts: false,
    timestamp: new Date().toISOString(),
    edited_timestamp: m.edits > 0 ? new Date().toISOString() : null,
    flags: 0,
    ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
    ...(m.message_reference ? { message_reference: m.message_reference } : {}),
  });

  /** Discord's message checks: some content or components, at most 2000 characters. */
  function invalidMessage(body: Record<string, unknown> | undefined, creating: boolean): string | undefined {
    if (!body) return 'Cannot send an empty message';
    const content = body.content;
    if (content !== undefined && typeof content !== 'string') return 'content: must be a string';
    if (typeof content === 'string' && content.length > 2000) return 'content: Must be 2000 or fewer in length.';
    const hasComponents = Array.isArray(body.components) && body.components.length > 0;
    if (creating && (typeof content !== 'string' || content.length === 0) && !hasComponents) return 'Cannot send an empty message';
    return undefined;
  }

  /**
   * `GET /channels/{id}/messages` as Discord answers it: `limit` 1–100 (default 50), one of
   * `before`/`after`/`around` (only `after` and none are supported here); with `after`, the oldest
   * `limit` messages after that id, otherwise the newest `limit`. Either way the page is sorted
   * newest first. REST message objects have no `guild_id` and no `member` (gateway events do).
   */
  function readHistory(channelId: string, q: URLSearchParams): [number, unknown] {
    const limit = q.has('limit') ? Number(q.get('limit')) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return [400, { message: 'Invalid Form Body', code: 50035, errors: { limit: { _errors: [{ code: 'NUMBER_TYPE_MAX', message: 'int value should be less than or equal to 100.' }] } } }];
    if (q.has('before') || q.has('around')) return [400, { message: 'fake-discord: only `after` is supported', code: 0 }];
    const after = q.get('after');
    if (after !== null && !/^\d{1,20}$/.test(after)) return [400, { message: 'Invalid Form Body', code: 50035, errors: { after: { _errors: [{ code: 'NUMBER_TYPE_COERCE', message: `Value "${after}" is not snowflake.` }] } } }];
    if (!history.has(channelId) && !(opts.guild?.channels.some((c) => c.id === channelId) || opts.guild?.threads?.some((t) => t.id === channelId))) {
      // A DM channel nobody wrote in does not exist for the fake.
      return [404, { message: 'Unknown Channel', code: 10003 }];
    }
    const byAge = [...(history.get(channelId) ?? [])].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const page = after !== null ? byAge.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit) : byAge.slice(-limit);
    historyReads.push({ channelId, after, limit });
    return [200, page.reverse().map((m) => m.read())];
  }

  async function handleRest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/attachments/')) return handleFile(req, res, url.pathname);
    if (!url.pathname.startsWith(API_PREFIX)) return json(res, 404, { message: '404: Not Found', code: 0 });
    const path = url.pathname.slice(API_PREFIX.length);
    let body: Record<string, unknown> | undefined;
    try {
      body = await readJson(req);
    } catch {
      return json(res, 400, { message: 'The request body contains invalid JSON.', code: 50109 });
    }
    const call: FakeDiscordCall = { method, path, body, status: 200, atMs: Date.now() };
    calls.push(call);
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      json(res, status, payload, headers);
    };
    // Interaction callbacks and webhooks are authenticated by the token in the path, not the bot token.
    const updateMessage = (messageId: string | undefined, data: Record<string, unknown> | undefined) => {
      const msg = messageId ? byId.get(messageId) : undefined;
      if (!msg || !data) return;
      if (typeof data.content === 'string') msg.content = data.content;
      if (Array.isArray(data.components)) msg.components = data.components;
    };
    const interaction = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path);
    if (interaction && method === 'POST') {
      const known = interactions.get(interaction[1]!);
      if (known && known.token !== interaction[2]) return answer(401, { message: 'Invalid interaction token', code: 50027 });
      const data = body?.data as Record<string, unknown> | undefined;
      interactionReplies.push({ interactionId: interaction[1]!, type: Number(body?.type), data });
      if (Number(body?.type) === 7) updateMessage(known?.messageId, data);
      return answer(204, undefined);
    }
    const hook = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(path);
    if (hook) {
      const found = [...interactions].find(([, v]) => v.token === hook[2]);
      if (!found) return answer(404, { message: 'Unknown Webhook', code: 10015 });
      if (hook[3] && method === 'PATCH') {
        interactionReplies.push({ interactionId: found[0], type: 'edit_original', data: body });
        updateMessage(found[1].messageId, body);
        return answer(200, {});
      }
      if (!hook[3] && method === 'POST') {
        interactionReplies.push({ interactionId: found[0], type: 'followup', data: body });
        return answer(200, { id: fakeSnowflake(), content: body?.content ?? '' });
      }
    }
    if (req.headers.authorization !== `Bot ${opts.token}`) return answer(401, { message: '401: Unauthorized', code: 0 });
    if (method === 'GET' && path === '/gateway/bot') {
      return answer(200, { url: gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } });
    }
    if (method === 'GET' && path === '/users/@me') return answer(200, bot);
    const list = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (list && method === 'GET') return answer(...readHistory(list[1]!, url.searchParams));
    const typing = /^\/channels\/(\d+)\/typing$/.exec(path);
    if (typing && method === 'POST') return answer(204, undefined);
    const create = /^\/channels\/(\d+)\/messages$/.exec(path);
    const edit = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if (edit && method === 'DELETE') {
      const msg = byId.get(edit[2]!);
      if (!msg || msg.channel_id !== edit[1]) return answer(404, { message: 'Unknown Message', code: 10008 });
      byId.delete(msg.id);
      const list = byChannel.get(msg.channel_id) ?? [];
      list.splice(list.indexOf(msg), 1);
      const seen = history.get(msg.channel_id) ?? [];
      const at = seen.findIndex((h) => h.id === msg.id);
      if (at >= 0) seen.splice(at, 1);
      return answer(204, undefined);
    }
    if ((create && method === 'POST') || (edit && method === 'PATCH')) {
      const route = create ? `POST /channels/${create[1]}/messages` : `PATCH /channels/${edit![1]}/messages/:id`;
      const limit = limits.shift();
      if (limit) {
        const seconds = limit.retryAfterMs / 1000;
        // Discord sends retry_after in the body and Retry-After in seconds; fractions keep tests fast.
        return answer(
          429,
          { message: 'You are being rate limited.', retry_after: seconds, global: limit.global, ...(limit.global ? {} : { code: 0 }) },
          { ...bucketHeaders(route, 0, seconds), 'retry-after': String(seconds), 'x-ratelimit-scope': limit.global ? 'global' : 'user', ...(limit.global ? { 'x-ratelimit-global': 'true' } : {}) },
        );
      }
      const problem = invalidMessage(body, Boolean(create));
      if (problem) return answer(400, { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: problem }] } } });
      if (create) {
        const enforce = body!.enforce_nonce === true && body!.nonce !== undefined;
        const key = `${create[1]}:${String(body!.nonce)}`;
        const existing = enforce ? nonces.get(key) : undefined;
        const msg = existing ?? storeMessage(create[1]!, body!);
        if (enforce && !existing) nonces.set(key, msg);
        if (swallow > 0) {
          swallow -= 1;
          return; // the message exists, the answer never comes: the client times out and retries
        }
        return answer(200, wire(msg), bucketHeaders(route, 4, 5));
      }
      const msg = byId.get(edit![2]!);
      if (!msg || msg.channel_id !== edit![1]) return answer(404, { message: 'Unknown Message', code: 10008 });
      if (typeof body!.content === 'string') msg.content = body!.content;
      if (Array.isArray(body!.components)) msg.components = body!.components;
      msg.edits += 1;
      return answer(200, wire(msg), bucketHeaders(route, 4, 5));
    }
    return answer(404, { message: '404: Not Found', code: 0 });
  }

  const server = createServer((req, res) => {
    handleRest(req, res).catch(() => json(res, 500, { message: '500: Internal Server Error', code: 0 }));
  });
  const wss = new WebSocketServer({ server });

  const send = (ws: WebSocket, payload: unknown) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(payload));
  };
  const sendDispatch = (session: Session, t: string, d: unknown, logIt = true) => {
    session.seq += 1;
    if (logIt) session.log.push({ s: session.seq, t, d });
    if (session.log.length > 500) session.log.shift();
    if (session.socket) send(session.socket, { op: 0, s: session.seq, t, d });
    return session.seq;
  };
  const handshakeDone = () => {
    handshakes += 1;
    for (const w of handshakeWaiters.splice(0)) w();
  };
  const guildPayload = () => {
    const g = opts.guild!;
    const now = new Date().toISOString();
    return {
      id: g.id,
      name: g.name ?? 'Test Guild',
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: '1',
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [
        { id: g.id, name: '@everyone', permissions: '1071698660929', position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 },
        // The role Discord creates for a bot that joins a server (`tags.bot_id`).
        ...(g.botRoleId ? [{ id: g.botRoleId, name: bot.username, permissions: '0', position: 1, color: 0, hoist: false, managed: true, mentionable: true, flags: 0, tags: { bot_id: bot.id } }] : []),
      ],
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      joined_at: now,
      large: false,
      unavailable: false,
      member_count: 3,
      members: [{ user: bot, roles: [], joined_at: now, deaf: false, mute: false, flags: 0 }],
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      channels: g.channels.map((c, i) => ({ id: c.id, type: 0, guild_id: g.id, name: c.name, position: i, permission_overwrites: [], parent_id: null, nsfw: false, topic: null, last_message_id: null, rate_limit_per_user: 0 })),
      threads: (g.threads ?? []).map((t) => ({
        id: t.id,
        type: 11,
        guild_id: g.id,
        parent_id: t.parentId,
        name: t.name,
        owner_id: '1',
        last_message_id: null,
        rate_limit_per_user: 0,
        message_count: 0,
        member_count: 1,
        flags: 0,
        thread_metadata: { archived: false, auto_archive_duration: 1440, archive_timestamp: now, locked: false },
      })),
    };
  };

  wss.on('connection', (ws, req) => {
    const q = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
    if (q.get('v') !== '10' || q.get('encoding') !== 'json') {
      ws.close(4012, 'Invalid API version');
      return;
    }
    let session: Session | undefined;
    send(ws, { op: 10, s: null, t: null, d: { heartbeat_interval: heartbeatIntervalMs } });
    ws.on('message', (raw) => {
      let payload: { op?: number; d?: Record<string, unknown> | number | null };
      try {
        payload = JSON.parse(String(raw)) as typeof payload;
      } catch {
        ws.close(4002, 'Error while decoding payload.');
        return;
      }
      const d = payload.d;
      switch (payload.op) {
        case 1:
          send(ws, { op: 11, s: null, t: null, d: null });
          return;
        case 2: {
          const identify = d as Record<string, unknown>;
          identifies.push(identify);
          if (identify.token !== opts.token) {
            ws.close(4004, 'Authentication failed.');
            return;
          }
          const shard = (Array.isArray(identify.shard) ? identify.shard : [0, 1]) as [number, number];
          session = { id: randomBytes(16).toString('hex'), shard, seq: 0, log: [], socket: ws };
          for (const [id, old] of sessions) if (old.shard[0] === shard[0]) sessions.delete(id);
          sessions.set(session.id, session);
          const guilds = opts.guild && ownsGuild(opts.guild.id, shard) ? [{ id: opts.guild.id, unavailable: true }] : [];
          sendDispatch(session, 'READY', {
            v: 10,
            user: bot,
            guilds,
            session_id: session.id,
            resume_gateway_url: gatewayUrl,
            shard,
            application: { id: bot.id, flags: 0 },
            private_channels: [],
            presences: [],
            relationships: [],
            user_settings: {},
            guild_join_requests: [],
            geo_ordered_rtc_regions: [],
            auth: {},
            _trace: ['fake-discord'],
          });
          if (guilds.length > 0) sendDispatch(session, 'GUILD_CREATE', guildPayload());
          handshakeDone();
          return;
        }
        case 6: {
          const resume = d as Record<string, unknown>;
          resumes.push(resume);
          const old = sessions.get(String(resume.session_id));
          if (!old || resume.token !== opts.token) {
            send(ws, { op: 9, s: null, t: null, d: false });
            return;
          }
          session = old;
          session.socket = ws;
          const since = Number(resume.seq ?? 0);
          const missed = session.log.filter((e) => e.s > since);
          const extra = replayExtra > 0 ? session.log.filter((e) => e.s <= since).slice(-replayExtra) : [];
          replayExtra = 0;
          // Replays keep their original sequence numbers; extra ones are what a real redelivery looks like.
          for (const e of [...extra, ...missed]) send(ws, { op: 0, s: e.s, t: e.t, d: e.d });
          sendDispatch(session, 'RESUMED', { _trace: ['fake-discord'] }, false);
          handshakeDone();
          return;
        }
        default:
          return;
      }
    });
    ws.on('close', () => {
      if (session && session.socket === ws) session.socket = undefined;
    });
  });

  function ownsGuild(guildId: string, shard: [number, number]): boolean {
    return Number((BigInt(guildId) >> 22n) % BigInt(shard[1])) === shard[0];
  }

  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
  origin = `http://127.0.0.1:${port}`;

  const current = (guildId: string | undefined): Session | undefined => {
    for (const s of sessions.values()) {
      // DMs go to shard 0; guild events to the shard that owns the guild.
      if (guildId === undefined ? s.shard[0] === 0 : ownsGuild(guildId, s.shard)) return s;
    }
    return undefined;
  };

  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    gatewayUrl,
    addAttachment(data, o) {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
      const id = fakeSnowflake();
      const path = `/attachments/${o.channelId ?? '0'}/${id}/${encodeURIComponent(o.filename)}`;
      files.set(path, { data: bytes, opts: o });
      // Signed, expiring links as Discord gives them (ex: expiry, is: issued, hm: signature, all hex).
      const now = Math.floor(Date.now() / 1000);
      const query = `?ex=${(now + 86_400).toString(16)}&is=${now.toString(16)}&hm=${randomBytes(32).toString('hex')}&`;
      return {
        id,
        filename: o.filename,
        size: o.declaredSize ?? bytes.length,
        url: `${origin}${path}${query}`,
        proxy_url: `${origin}${path}${query}`,
        ...(o.contentType ? { content_type: o.contentType } : {}),
      };
    },
    fileRequests,
    calls,
    messages: (channelId) => [...(byChannel.get(channelId) ?? [])],
    interactionReplies,
    historyReads,
    identifies,
    resumes,
    rateLimitNext(n, retryAfterMs, o = {}) {
      for (let i = 0; i < n; i++) limits.push({ retryAfterMs, global: o.global ?? false });
    },
    swallowNext(n) {
      swallow += n;
    },
    dispatch(t, d, o = {}) {
      if (t === 'INTERACTION_CREATE') {
        const ix = d as { id?: string; token?: string; message?: { id?: string } };
        if (ix?.id && ix.token) interactions.set(ix.id, { token: ix.token, messageId: ix.message?.id });
      }
      const guildId = o.guildId ?? ((d as { guild_id?: string } | null)?.guild_id);
      const m = d as { id?: unknown; channel_id?: unknown } | null;
      const isMessage = t === 'MESSAGE_CREATE' && typeof m?.id === 'string' && typeof m.channel_id === 'string';
      if (isMessage) {
        const { guild_id: _g, member: _m, ...rest } = d as Record<string, unknown>;
        addHistory(m.channel_id as string, m.id as string, () => rest);
      }
      const session = current(guildId);
      if (!session) throw new Error('no gateway session is connected for that event');
      if (isMessage && !session.socket) {
        sendDispatch(session, t, d);
        return 0;
      }
      return sendDispatch(session, t, d);
    },
    dropConnection(code = 4000) {
      for (const s of sessions.values()) s.socket?.close(code, 'fake-discord dropped the connection');
    },
    replayOnResume(n) {
      replayExtra = n;
    },
    waitForSessions(count, timeoutMs = 10_000) {
      if (handshakes >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fake discord: ${handshakes} of ${count} gateway sessions after ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          if (handshakes >= count) {
            clearTimeout(timer);
            resolve();
          } else handshakeWaiters.push(check);
        };
        handshakeWaiters.push(check);
      });
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
