import type { Server } from 'node:http';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadDiscordConfig, startDiscordService, type DiscordService } from '@switchboard/discord';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeSnowflake, startFakeDiscord, waitFor, type FakeDiscord } from '@switchboard/testkit';
import { startTestSystem, type TestSystem } from '../support/system.ts';
import { channelContract, type ChannelHarness, type ChannelRig, type Delivery, type HarnessOptions } from './contract.ts';

const BOT_ID = '111222333444555666';
const TOKEN = `${Buffer.from(BOT_ID).toString('base64').replace(/=+$/, '')}.GhIjKl.fake-hmac-part-for-tests`;
const BOT = { id: BOT_ID, username: 'switchboard' };
const GUILD = '400000000000000000';
const CHANNEL = '500000000000000001';
const THREAD = '500000000000000002';
/** The managed role Discord gives the bot in the test server. */
const BOT_ROLE = '400000000000000077';
const USERS: Record<string, string> = { '100000000000000001': 'alice', '100000000000000002': 'bob', '100000000000000003': 'carol' };
const alice = '100000000000000001';
const bob = '100000000000000002';
/** A user's DM channel with the bot (one per user, as Discord has it). */
const dmChannel = (user: string) => `3${user.slice(1)}`;

interface DiscordRig extends ChannelRig {
  t: TestSystem;
  dc: FakeDiscord;
  service: DiscordService;
  /** Dispatches a MESSAGE_CREATE (or any event) and waits until the service counted it. */
  deliver(t: string, d: unknown): Promise<Delivery>;
  message(user: string, channel: string, content: string, extra?: Record<string, unknown>): Record<string, unknown>;
}

const author = (user: string) => ({ id: user, username: USERS[user] ?? `user${user.slice(-3)}`, global_name: null, avatar: null, discriminator: '0', public_flags: 0 });

/** A MESSAGE_CREATE payload as the gateway sends it (API v10). */
function messagePayload(user: string, channel: string, content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const inGuild = channel === CHANNEL || channel === THREAD;
  return {
    id: fakeSnowflake(),
    type: 0,
    channel_id: channel,
    ...(inGuild ? { guild_id: GUILD, member: { roles: [], nick: null, joined_at: '2024-01-01T00:00:00.000Z', deaf: false, mute: false, flags: 0 } } : {}),
    author: author(user),
    content,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
    flags: 0,
    components: [],
    ...extra,
  };
}

async function counted(registry: ReturnType<typeof createRegistry>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'switchboard_channel_updates_total');
  return (metric?.values ?? []).reduce((sum, v) => sum + Number(v.value), 0);
}

async function startDiscordRig(opts: HarnessOptions = {}): Promise<DiscordRig> {
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  };
  try {
    const env = { QUEUED_PLATFORMS: 'discord', ...opts.env };
    const t = await startTestSystem({ env });
    cleanups.push(() => t.stop());
    if (opts.script) t.model.setScript(opts.script);
    const dc = await startFakeDiscord({
      token: TOKEN,
      bot: BOT,
      guild: { id: GUILD, channels: [{ id: CHANNEL, name: 'general' }], threads: [{ id: THREAD, parentId: CHANNEL, name: 'a thread' }], botRoleId: BOT_ROLE },
    });
    cleanups.push(() => dc.close());
    const registry = createRegistry({ defaultMetrics: false });
    const config = loadDiscordConfig({
      REDIS_URL: inject('redisUrl'),
      SWITCHBOARD_PREFIX: t.prefix,
      DISCORD_BOT_TOKEN: TOKEN,
      DISCORD_API_URL: dc.apiUrl,
      DISCORD_CHAT_INTERVAL_MS: '20',
      DISCORD_EDIT_INTERVAL_MS: '150',
      DISCORD_REST_TIMEOUT_MS: '1500',
      ...env,
    });
    const service = (await startDiscordService({ config, logger: createLogger({ service: 'discord', level: process.env.TEST_LOG_LEVEL ?? 'silent' }), registry, redisUrl: inject('redisUrl') }))!;
    cleanups.push(() => service.close());
    await service.ready;
    const app = express();
    app.use(service.router);
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

    let last: { t: string; d: unknown } | undefined;
    const deliver = async (event: string, d: unknown): Promise<Delivery> => {
      const before = await counted(registry);
      last = { t: event, d };
      dc.dispatch(event, d);
      // Gateway events have no HTTP answer: "200" means the service took the event and counted it.
      await waitFor(async () => (await counted(registry)) > before, { message: `the service to handle ${event}` });
      return { status: 200 };
    };
    const where = (w: { dm: string } | 'group') => (w === 'group' ? CHANNEL : dmChannel(w.dm));
    const sendCalls = () => dc.calls.filter((c) => (c.method === 'POST' && /^\/channels\/\d+\/messages$/.test(c.path)) || (c.method === 'PATCH' && /^\/channels\/\d+\/messages\/\d+$/.test(c.path))).length;
    const prompts = () =>
      [...new Set([CHANNEL, ...Object.keys(USERS).map(dmChannel)])].flatMap((channel) =>
        dc.messages(channel).filter((m) => JSON.stringify(m.components).includes('"custom_id"')).map((m) => ({ m, channel })),
      );
    return {
      t,
      dc,
      service,
      system: t,
      registry,
      deliver,
      message: messagePayload,
      dm: (user, text) => deliver('MESSAGE_CREATE', messagePayload(user, dmChannel(user), text)),
      group: (user, text, { mention }) =>
        deliver('MESSAGE_CREATE', messagePayload(user, CHANNEL, mention ? `<@${BOT_ID}> ${text}` : text, mention ? { mentions: [{ ...BOT, bot: true, global_name: null, avatar: null, discriminator: '0' }] } : {})),
      redeliverLast: () => deliver(last!.t, last!.d),
      forged: async () => undefined, // gateway events arrive on our own authenticated connection: nothing to forge
      malformed: async () => {
        const before = await registry.getSingleMetricAsString('switchboard_inbound_messages_total');
        const res = await deliver('MESSAGE_CREATE', { id: 'not-a-snowflake', channel_id: 42, content: { text: 'nope' } });
        const after = await registry.getSingleMetricAsString('switchboard_inbound_messages_total');
        // The gateway has no answer to give: report the rejection the service counted as a 400.
        return after !== before && /outcome="rejected"/.test(after) ? { status: 400 } : res;
      },
      said: (w) => dc.messages(where(w)).map((m) => m.content),
      sendCalls,
      rateLimitNext: (n, retryAfterMs) => dc.rateLimitNext(n, retryAfterMs),
      approvalPrompts: () =>
        prompts().map(({ m, channel }) => ({
          text: m.content,
          press: async (user: string, choice: 'approve' | 'deny') => {
            const row = m.components[0] as { components: Array<{ custom_id: string; label: string }> };
            const button = row.components.find((b) => b.label.toLowerCase() === choice)!;
            const id = fakeSnowflake();
            const inGuild = channel === CHANNEL;
            await deliver('INTERACTION_CREATE', {
              id,
              application_id: BOT_ID,
              type: 3,
              token: `interaction-token-${id}`,
              version: 1,
              channel_id: channel,
              channel: { id: channel, type: inGuild ? 0 : 1 },
              ...(inGuild ? { guild_id: GUILD, member: { user: author(user), roles: [], nick: null, joined_at: '2024-01-01T00:00:00.000Z', permissions: '0' } } : { user: author(user) }),
              data: { custom_id: button.custom_id, component_type: 2 },
              message: { id: m.id, channel_id: channel, content: m.content, components: m.components, author: BOT, type: 0 },
              app_permissions: '0',
              locale: 'en-US',
              entitlements: [],
              authorizing_integration_owners: { '0': GUILD },
              context: inGuild ? 0 : 1,
            });
            const reply = await waitFor(() => dc.interactionReplies.find((r) => r.interactionId === id));
            return { status: reply.type === 7 ? 200 : 403 };
          },
        })),
      edits: () => dc.calls.filter((c) => c.method === 'PATCH' && c.status === 200).length,
      async userDeletes(w, index) {
        const m = dc.messages(where(w))[index]!;
        const res = await fetch(`${dc.apiUrl}/v10/channels/${m.channel_id}/messages/${m.id}`, { method: 'DELETE', headers: { authorization: `Bot ${TOKEN}` } });
        if (!res.ok) throw new Error(`DELETE message answered ${res.status}`);
      },
      approvePairing: async (code) => (await fetch(`${url}/admin/discord/pairings/${code}/approve`, { method: 'POST' })).status,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const harness: ChannelHarness = {
  platform: 'discord',
  messageLimit: 2000,
  codeBalanced: (part) => (part.match(/```/g) ?? []).length % 2 === 0,
  users: { alice, bob },
  start: startDiscordRig,
};

channelContract(harness);

/** A fresh user id per test, so tests sharing one rig never read each other's DMs. */
let nextUser = 200;
const freshUser = () => `1000000000000${String((nextUser += 1)).padStart(5, '0')}`;
const metricValue = async (r: DiscordRig, name: string, outcome: string) =>
  Number((await r.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values.find((v) => v.labels.outcome === outcome)?.value ?? 0);
const modelSaw = (r: DiscordRig, text: string) => r.t.model.requests.some((req) => JSON.stringify(req.messages).includes(text));

// One rig for the gateway specifics that need no special settings: starting the core is the slow part.
describe('discord gateway specifics', () => {
  let r: DiscordRig;
  beforeAll(async () => {
    r = await startDiscordRig({ env: { DISCORD_DM_POLICY: 'open' } });
  });
  afterAll(async () => {
    await r?.close();
  });

  it('identifies with the intents it needs and replies to the asker without pinging anyone', async () => {
    const user = freshUser();
    const identify = r.dc.identifies[0]!;
    // Guilds (1) | GuildMessages (512) | DirectMessages (4096) | MessageContent (32768)
    expect(identify.intents).toBe(1 | 512 | 4096 | 32768);
    const msg = r.message(user, dmChannel(user), 'hello @everyone');
    await r.deliver('MESSAGE_CREATE', msg);
    await waitFor(() => r.said({ dm: user }).length > 0, { timeoutMs: 15_000 });
    const post = r.dc.calls.find((c) => c.method === 'POST' && c.path === `/channels/${dmChannel(user)}/messages`)!;
    expect(post.body).toMatchObject({ allowed_mentions: { parse: [] }, message_reference: { message_id: msg.id }, enforce_nonce: true });
    expect(r.dc.calls.some((c) => c.path === `/channels/${dmChannel(user)}/typing`)).toBe(true);
  });

  it('messages dispatched back to back in one channel reach the lane in gateway order', async () => {
    const user = freshUser();
    const words = ['m1', 'm2', 'm3', 'm4', 'm5'];
    for (const w of words) r.dc.dispatch('MESSAGE_CREATE', r.message(user, dmChannel(user), `word ${w} ${user}`));
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes(`m5 ${user}`)), { timeoutMs: 20_000 });
    // The turn that answered m5 holds every message (history and new), in the order they were sent.
    const turn = r.t.model.requests.filter((q) => q.messages.some((m) => m.role === 'user' && m.content === `word m5 ${user}`)).at(-1)!;
    const seen = JSON.stringify(turn.messages);
    const at = words.map((w) => seen.indexOf(`word ${w} ${user}`));
    expect(at.every((n) => n >= 0)).toBe(true);
    expect([...at].sort((x, y) => x - y)).toEqual(at);
  });

  it('a RESUME that replays an event already handled still gives one reply', async () => {
    const user = freshUser();
    const duplicates = await metricValue(r, 'switchboard_channel_updates_total', 'duplicate');
    const sessions = r.dc.identifies.length + r.dc.resumes.length;
    await r.dm(user, 'before the drop');
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes('before the drop')), { timeoutMs: 15_000 });
    r.dc.replayOnResume(1);
    r.dc.dropConnection(4000);
    await r.dc.waitForSessions(sessions + 1);
    expect(r.dc.resumes.length).toBeGreaterThanOrEqual(1);
    await r.dm(user, 'after the resume');
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes('after the resume')), { timeoutMs: 15_000 });
    expect(r.said({ dm: user }).filter((t) => t.includes('before the drop'))).toHaveLength(1);
    expect(await metricValue(r, 'switchboard_channel_updates_total', 'duplicate')).toBe(duplicates + 1);
  });

  it('a thread is a session of its own, answered in the thread', async () => {
    const mention = { mentions: [{ ...BOT, bot: true }] };
    await r.deliver('MESSAGE_CREATE', r.message(alice, CHANNEL, `<@${BOT_ID}> in the channel`, mention));
    await r.deliver('MESSAGE_CREATE', r.message(alice, THREAD, `<@${BOT_ID}> in the thread`, mention));
    await waitFor(() => r.dc.messages(THREAD).some((m) => m.content.includes('in the thread')), { timeoutMs: 15_000 });
    await waitFor(() => r.dc.messages(CHANNEL).some((m) => m.content.includes('in the channel')), { timeoutMs: 15_000 });
    expect(r.dc.messages(CHANNEL).some((m) => m.content.includes('in the thread'))).toBe(false);
    // Each session's model call saw only its own message.
    const threadCall = r.t.model.requests.find((q) => JSON.stringify(q.messages).includes('in the thread'))!;
    expect(JSON.stringify(threadCall.messages)).not.toContain('in the channel');
  });

  it('a reply to the bot counts as addressed; other bots and its own messages are ignored', async () => {
    await r.deliver('MESSAGE_CREATE', r.message(alice, CHANNEL, 'from a bot', { author: { ...author('100000000000000009'), bot: true } }));
    await r.deliver('MESSAGE_CREATE', r.message(BOT_ID, CHANNEL, 'from myself', { author: { ...BOT, bot: true } }));
    const mine = r.message(alice, CHANNEL, 'earlier bot words');
    await r.deliver('MESSAGE_CREATE', r.message(alice, CHANNEL, 'replying to you', { type: 19, message_reference: { message_id: mine.id }, referenced_message: { ...mine, author: { ...BOT, bot: true } } }));
    await waitFor(() => r.said('group').some((t) => t.includes('replying to you')), { timeoutMs: 15_000 });
    expect(modelSaw(r, 'from a bot')).toBe(false);
    expect(modelSaw(r, 'from myself')).toBe(false);
  });

  it("mentioning the bot's managed role in a server addresses it", async () => {
    await r.deliver('MESSAGE_CREATE', r.message(alice, CHANNEL, `<@&${BOT_ROLE}> via the role`, { mention_roles: [BOT_ROLE] }));
    await waitFor(() => r.said('group').some((t) => t.includes('via the role')), { timeoutMs: 15_000 });
  });

  it('an edit is a new message once; a link preview update is not', async () => {
    const user = freshUser();
    const msg = r.message(user, dmChannel(user), 'first wording');
    await r.deliver('MESSAGE_CREATE', msg);
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes('first wording')), { timeoutMs: 15_000 });
    await r.deliver('MESSAGE_UPDATE', { ...msg, embeds: [{ type: 'link', url: 'https://example.com' }] });
    const edited = { ...msg, content: 'second wording', edited_timestamp: new Date().toISOString() };
    await r.deliver('MESSAGE_UPDATE', edited);
    await r.deliver('MESSAGE_UPDATE', edited);
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes('second wording')), { timeoutMs: 15_000 });
    expect(r.said({ dm: user }).filter((t) => t.includes('second wording'))).toHaveLength(1);
    expect(r.said({ dm: user })).toHaveLength(2);
  });

  it('attachments reach the model as attachment entries', async () => {
    const user = freshUser();
    const attachment = { id: fakeSnowflake(), filename: `cat-${user}.png`, size: 1234, url: 'https://cdn.discordapp.com/attachments/1/2/cat.png', proxy_url: 'https://media.discordapp.net/attachments/1/2/cat.png', content_type: 'image/png' };
    await r.deliver('MESSAGE_CREATE', r.message(user, dmChannel(user), '', { attachments: [attachment] }));
    await waitFor(() => r.said({ dm: user }).length > 0, { timeoutMs: 15_000 });
    expect(modelSaw(r, `cat-${user}.png`)).toBe(true);
  });

  it('a send that times out after Discord created the message is retried without a duplicate', async () => {
    const user = freshUser();
    r.dc.swallowNext(1);
    await r.dm(user, 'slow network');
    await waitFor(() => r.said({ dm: user }).some((t) => t.includes('slow network')), { timeoutMs: 20_000 });
    // The REST client's retry after the timeout came back with the first message (same nonce).
    await waitFor(() => r.dc.calls.some((c) => c.method === 'POST' && c.path === `/channels/${dmChannel(user)}/messages` && c.status === 200), { timeoutMs: 20_000 });
    expect(r.said({ dm: user }).filter((t) => t.includes('slow network'))).toHaveLength(1);
  });

  it('a global 429 delays but loses nothing, and is counted', async () => {
    const user = freshUser();
    const limited = await metricValue(r, 'switchboard_channel_sends_total', 'rate_limited');
    r.dc.rateLimitNext(2, 200, { global: true });
    for (const text of ['g-one', 'g-two']) await r.dm(user, text);
    await waitFor(() => ['g-one', 'g-two'].every((w) => r.said({ dm: user }).some((t) => t.includes(w))), { timeoutMs: 20_000 });
    expect(await metricValue(r, 'switchboard_channel_sends_total', 'rate_limited')).toBe(limited + 2);
  });
});

describe('discord approvals in a server', () => {
  let r: DiscordRig | undefined;
  afterEach(async () => {
    await r?.close();
  });

  it('a button press from someone not allowed is refused privately and decides nothing', async () => {
    r = await startDiscordRig({ env: { DISCORD_DM_POLICY: 'open', TOOLS_ASK: 'echo' } });
    const rig = r;
    rig.t.model.setScript((body) =>
      body.messages.some((m) => m.role === 'tool') ? { text: 'tool done' } : { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'x' } }] },
    );
    await rig.group(alice, 'use the tool', { mention: true });
    const [prompt] = await waitFor(() => (rig.approvalPrompts().length > 0 ? rig.approvalPrompts() : undefined), { timeoutMs: 20_000 });
    expect((await prompt!.press(bob, 'approve')).status).toBe(403);
    const refusal = rig.dc.interactionReplies.at(-1)!;
    expect(refusal).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(rig.said('group').some((t) => t.includes('tool done'))).toBe(false);
    // Handled once: the callback answered at the first try (no retry that would count a duplicate).
    expect(await metricValue(rig, 'switchboard_channel_updates_total', 'interaction')).toBe(1);
    expect(await metricValue(rig, 'switchboard_channel_updates_total', 'duplicate')).toBe(0);
  });
});

describe('discord in the one-process system', () => {
  it('runs inside it: gateway in /readyz, pairing route on the main port', async () => {
    const dc = await startFakeDiscord({ token: TOKEN, bot: BOT });
    const t = await startTestSystem({ env: { QUEUED_PLATFORMS: 'discord', DISCORD_BOT_TOKEN: TOKEN, DISCORD_API_URL: dc.apiUrl, DISCORD_DM_POLICY: 'open', DISCORD_CHAT_INTERVAL_MS: '0' } });
    try {
      await waitFor(async () => (await fetch(`${t.url}/readyz`)).status === 200, { timeoutMs: 15_000 });
      dc.dispatch('MESSAGE_CREATE', messagePayload(alice, dmChannel(alice), 'hello from the all-in-one'));
      await waitFor(() => dc.messages(dmChannel(alice)).some((m) => m.content.includes('hello from the all-in-one')), { timeoutMs: 20_000 });
      expect((await fetch(`${t.url}/admin/discord/pairings/NOPE1234/approve`, { method: 'POST' })).status).toBe(404);
      expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/switchboard_channel_updates_total\{platform="discord",outcome="accepted"\} 1/);
    } finally {
      await t.stop();
      await dc.close();
    }
  });
});

describe('discord attachments', () => {
  const CAP = 4096;
  let r: DiscordRig;
  beforeAll(async () => {
    r = await startDiscordRig({ env: { DISCORD_DM_POLICY: 'allowlist', DISCORD_ALLOW_FROM: alice, DISCORD_ATTACHMENT_MAX_BYTES: String(CAP) } });
  });
  afterAll(async () => {
    await r?.close();
  });

  type Part = { type: string; text?: string; image_url?: { url: string } };
  /** The user content parts of the first model request that contains `marker`. */
  const partsFor = async (marker: string): Promise<Part[]> => {
    const request = await waitFor(() => r.t.model.requests.find((q) => JSON.stringify(q.messages).includes(marker)), { timeoutMs: 20_000 });
    const user = request.messages.filter((m) => m.role === 'user').at(-1)!;
    return Array.isArray(user.content) ? (user.content as Part[]) : [{ type: 'text', text: String(user.content) }];
  };
  const withFiles = (user: string, text: string, files: unknown[]) => r.message(user, dmChannel(user), text, { attachments: files });
  const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('fake png body')]);

  it('an image reaches the model as an image part, downloaded from the CDN without the bot token; the signed link goes nowhere', async () => {
    const file = r.dc.addAttachment(PNG, { filename: 'chart.png', contentType: 'image/png', channelId: dmChannel(alice) });
    const before = r.dc.fileRequests.length;
    await r.deliver('MESSAGE_CREATE', withFiles(alice, 'what is in this chart?', [file]));
    expect(await partsFor('what is in this chart?')).toEqual([
      { type: 'text', text: 'what is in this chart?\n[attached image "chart.png" (image/png, 21 B)]' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG.toString('base64')}` } },
    ]);
    expect(r.dc.fileRequests.slice(before)).toEqual([{ path: new URL(file.url).pathname, authorization: undefined, status: 200 }]);
    const path = new URL(file.url).pathname;
    expect(JSON.stringify(r.t.model.requests)).not.toContain(path);
    const { rows: tables } = await r.t.system.db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    const db: string[] = [];
    for (const { tablename } of tables) db.push(JSON.stringify((await r.t.system.db.query(`SELECT * FROM "${tablename}"`)).rows));
    expect(db.join('\n')).toContain('what is in this chart?');
    expect(db.join('\n')).not.toContain(path);
  });

  it('a text file is given to the model as untrusted text', async () => {
    const file = r.dc.addAttachment('line one\nline two', { filename: 'notes.txt', contentType: 'text/plain; charset=utf-8', channelId: dmChannel(alice) });
    await r.deliver('MESSAGE_CREATE', withFiles(alice, '', [file]));
    const parts = await partsFor('notes.txt');
    expect(parts[0]!.text).toBe('[sent notes.txt]\n[attached document "notes.txt" (text/plain; charset=utf-8, 17 B)]');
    expect(parts[1]!.text).toMatch(/<untrusted source="attachment" name="notes.txt" type="text\/plain; charset=utf-8">\nline one\nline two\n<\/untrusted>/);
  });

  it('an oversized file becomes a note without being requested; a link on another host is refused', async () => {
    const big = r.dc.addAttachment(Buffer.alloc(CAP * 2, 1), { filename: 'big.zip', contentType: 'application/zip', channelId: dmChannel(alice) });
    const elsewhere = await startFakeDiscord({ token: TOKEN, bot: BOT });
    try {
      const foreign = elsewhere.addAttachment('x', { filename: 'foreign.txt', contentType: 'text/plain' });
      await r.deliver('MESSAGE_CREATE', withFiles(alice, 'two files for you', [big, foreign]));
      expect(await partsFor('two files for you')).toEqual([{ type: 'text', text: 'two files for you\n[big.zip was not downloaded: 8 KiB is over the 4 KiB limit]\n[foreign.txt could not be downloaded]' }]);
      expect(r.dc.fileRequests.map((q) => q.path)).not.toContain(new URL(big.url).pathname);
      expect(elsewhere.fileRequests).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });

  it('a stranger’s files are never downloaded', async () => {
    const stranger = '100000000000000009';
    const file = r.dc.addAttachment(PNG, { filename: 'bait.png', contentType: 'image/png', channelId: dmChannel(stranger) });
    await r.deliver('MESSAGE_CREATE', withFiles(stranger, 'look at this', [file]));
    expect(r.dc.fileRequests.map((q) => q.path)).not.toContain(new URL(file.url).pathname);
    expect(r.t.model.requests.some((q) => JSON.stringify(q.messages).includes('look at this'))).toBe(false);
  });

  it('a slow download holds the channel’s next message behind it: the lane keeps the gateway’s order', async () => {
    const slow = r.dc.addAttachment(PNG, { filename: 'slow.png', contentType: 'image/png', channelId: dmChannel(alice), delayMs: 500 });
    r.dc.dispatch('MESSAGE_CREATE', withFiles(alice, 'picture-one', [slow]));
    await r.deliver('MESSAGE_CREATE', r.message(alice, dmChannel(alice), 'followup-two'));
    const request = await waitFor(() => r.t.model.requests.find((q) => JSON.stringify(q.messages).includes('followup-two')), { timeoutMs: 20_000 });
    const seen = JSON.stringify(request.messages);
    expect(seen.indexOf('picture-one')).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf('picture-one')).toBeLessThan(seen.indexOf('followup-two'));
  });
});
