import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startFakeDiscord, type FakeDiscord } from './fake-discord.ts';

const TOKEN = 'MTExMjIyMzMzNDQ0NTU1NjY2.GhIjKl.secret';
const BOT = { id: '111222333444555666', username: 'switchboard' };
let dc: FakeDiscord | undefined;
afterEach(async () => {
  await dc?.close();
});

/** A raw gateway client: every frame it got, and a way to wait for one. */
async function connect(url: string) {
  const ws = new WebSocket(url);
  const frames: Array<{ op: number; t?: string; s?: number; d?: Record<string, unknown> }> = [];
  let closeCode: number | undefined;
  ws.on('message', (raw) => frames.push(JSON.parse(String(raw)) as (typeof frames)[number]));
  ws.on('close', (code) => (closeCode = code));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const next = async (pred: (f: (typeof frames)[number]) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const f = frames.find(pred);
      if (f) return f;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no such frame; got ${JSON.stringify(frames)}`);
  };
  const closed = async () => {
    for (let i = 0; i < 200 && closeCode === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    return closeCode;
  };
  return { ws, frames, next, closed, send: (p: unknown) => ws.send(JSON.stringify(p)) };
}

describe('fake Discord', () => {
  it('speaks the gateway protocol: HELLO, heartbeat ACK, IDENTIFY → READY + GUILD_CREATE, dispatches in sequence', async () => {
    dc = await startFakeDiscord({ token: TOKEN, bot: BOT, guild: { id: '400000000000000000', channels: [{ id: '5', name: 'general' }] } });
    const info = (await (await fetch(`${dc.apiUrl}/v10/gateway/bot`, { headers: { authorization: `Bot ${TOKEN}` } })).json()) as { url: string; shards: number };
    expect(info).toMatchObject({ url: dc.gatewayUrl, shards: 1 });
    const c = await connect(`${info.url}?v=10&encoding=json`);
    expect((await c.next((f) => f.op === 10)).d).toMatchObject({ heartbeat_interval: 41_250 });
    c.send({ op: 1, d: null });
    await c.next((f) => f.op === 11);
    c.send({ op: 2, d: { token: TOKEN, intents: 1, properties: {}, shard: [0, 1] } });
    const ready = await c.next((f) => f.t === 'READY');
    expect(ready).toMatchObject({ op: 0, s: 1, d: { user: { id: BOT.id, bot: true }, guilds: [{ id: '400000000000000000', unavailable: true }], resume_gateway_url: dc.gatewayUrl } });
    expect(await c.next((f) => f.t === 'GUILD_CREATE')).toMatchObject({ s: 2 });
    expect(dc.dispatch('MESSAGE_CREATE', { id: '9' })).toBe(3);
    expect(await c.next((f) => f.t === 'MESSAGE_CREATE')).toMatchObject({ s: 3, d: { id: '9' } });
    c.ws.close();
  });

  it('closes 4004 on a bad token, 4012 on a wrong API version, and answers an unknown RESUME with op 9', async () => {
    dc = await startFakeDiscord({ token: TOKEN, bot: BOT });
    const bad = await connect(`${dc.gatewayUrl}?v=10&encoding=json`);
    bad.send({ op: 2, d: { token: 'nope', intents: 1, properties: {} } });
    expect(await bad.closed()).toBe(4004);
    const old = await connect(`${dc.gatewayUrl}?v=6&encoding=json`);
    expect(await old.closed()).toBe(4012);
    const resume = await connect(`${dc.gatewayUrl}?v=10&encoding=json`);
    resume.send({ op: 6, d: { token: TOKEN, session_id: 'unknown', seq: 3 } });
    expect(await resume.next((f) => f.op === 9)).toMatchObject({ d: false });
    resume.ws.close();
  });

  it('REST: 401 without the bot token, 400 over 2000 characters, 429 with Retry-After and bucket headers, nonce dedupe', async () => {
    dc = await startFakeDiscord({ token: TOKEN, bot: BOT });
    const post = (body: unknown, auth = `Bot ${TOKEN}`) =>
      fetch(`${dc!.apiUrl}/v10/channels/7/messages`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ content: 'x' }, 'Bot wrong')).status).toBe(401);
    expect((await post({ content: 'x'.repeat(2001) })).status).toBe(400);
    dc.rateLimitNext(1, 250);
    const limited = await post({ content: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('0.25');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(await limited.json()).toMatchObject({ retry_after: 0.25, global: false });
    const a = (await (await post({ content: 'once', nonce: 'n1', enforce_nonce: true })).json()) as { id: string };
    const b = (await (await post({ content: 'once', nonce: 'n1', enforce_nonce: true })).json()) as { id: string };
    expect(b.id).toBe(a.id);
    expect(dc.messages('7').map((m) => m.content)).toEqual(['once']);
    const del = (id: string) => fetch(`${dc!.apiUrl}/v10/channels/7/messages/${id}`, { method: 'DELETE', headers: { authorization: `Bot ${TOKEN}` } });
    expect((await del(a.id)).status).toBe(204);
    expect(dc.messages('7')).toEqual([]);
    expect(await (await fetch(`${dc.apiUrl}/v10/channels/7/messages`, { headers: { authorization: `Bot ${TOKEN}` } })).json()).toEqual([]);
    expect((await del(a.id)).status).toBe(404);
  });
});

describe('fake Discord channel history', () => {
  it('serves GET /channels/{id}/messages like Discord: the oldest `limit` after `after`, newest first, without guild_id', async () => {
    dc = await startFakeDiscord({ token: TOKEN, bot: BOT, guild: { id: '400000000000000000', channels: [{ id: '500000000000000001', name: 'general' }] } });
    const c = await connect(`${dc.gatewayUrl}?v=10&encoding=json`);
    c.send({ op: 2, d: { token: TOKEN, intents: 0, properties: {} } });
    await c.next((f) => f.t === 'READY');
    const ids = ['1001', '1002', '1003', '1004'];
    for (const id of ids) {
      dc.dispatch('MESSAGE_CREATE', { id, channel_id: '500000000000000001', guild_id: '400000000000000000', member: { nick: null }, author: { id: '1', username: 'a' }, content: `m${id}` });
    }
    c.ws.close();
    await c.closed();
    // Written while nobody is connected: kept in the history, not delivered.
    expect(dc.dispatch('MESSAGE_CREATE', { id: '1005', channel_id: '500000000000000001', guild_id: '400000000000000000', author: { id: '1', username: 'a' }, content: 'm1005' })).toBe(0);
    const get = async (q: string) => {
      const res = await fetch(`${dc!.apiUrl}/v10/channels/500000000000000001/messages${q}`, { headers: { authorization: `Bot ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as Array<Record<string, unknown>> };
    };
    const page = await get('?after=1001&limit=2');
    expect(page.body.map((m) => m.id)).toEqual(['1003', '1002']);
    expect(page.body[0]).not.toHaveProperty('guild_id');
    expect(page.body[0]).not.toHaveProperty('member');
    expect((await get('?after=1003')).body.map((m) => m.id)).toEqual(['1005', '1004']);
    expect((await get('?limit=2')).body.map((m) => m.id)).toEqual(['1005', '1004']);
    expect((await get('?after=1001&limit=101')).status).toBe(400);
    expect((await get('?after=nope')).status).toBe(400);
    expect(dc.historyReads.map((r) => r.after)).toEqual(['1001', '1003', null]);
    const unknown = await fetch(`${dc.apiUrl}/v10/channels/399999999999999999/messages`, { headers: { authorization: `Bot ${TOKEN}` } });
    expect(unknown.status).toBe(404);
  });
});
