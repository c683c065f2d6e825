import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { loadDiscordConfig, startDiscordService, type DiscordService } from '@switchboard/discord';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeSnowflake, startFakeDiscord, waitFor, type FakeDiscord } from '@switchboard/testkit';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/*
 * Messages written while the Discord service was down (a pod restart: a fresh IDENTIFY, which
 * replays nothing) are fetched after READY and answered once, in order.
 */

const BOT_ID = '111222333444555666';
const TOKEN = `${Buffer.from(BOT_ID).toString('base64').replace(/=+$/, '')}.GhIjKl.fake-hmac-part-for-tests`;
const BOT = { id: BOT_ID, username: 'switchboard' };
const GUILD = '400000000000000000';
const CHANNEL = '500000000000000001';
const alice = '100000000000000001';
const bob = '100000000000000002';
const carol = '100000000000000003';
const dmChannel = (user: string) => `3${user.slice(1)}`;
const member = { roles: [], nick: null, joined_at: '2024-01-01T00:00:00.000Z', deaf: false, mute: false, flags: 0 };

function message(user: string, channel: string, content: string, mention = false): Record<string, unknown> {
  const inGuild = channel === CHANNEL;
  return {
    id: fakeSnowflake(),
    type: 0,
    channel_id: channel,
    ...(inGuild ? { guild_id: GUILD, member } : {}),
    author: { id: user, username: `user${user.slice(-1)}`, global_name: null, avatar: null, discriminator: '0', public_flags: 0 },
    content: mention ? `<@${BOT_ID}> ${content}` : content,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: mention ? [{ ...BOT, bot: true, global_name: null, avatar: null, discriminator: '0' }] : [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
    flags: 0,
    components: [],
  };
}

describe('discord catch-up after a restart', () => {
  let t: TestSystem;
  let dc: FakeDiscord;
  let service: DiscordService | undefined;
  let registry = createRegistry({ defaultMetrics: false });
  const env = { QUEUED_PLATFORMS: 'discord', DISCORD_DM_POLICY: 'open', LANE_MAX_BATCH: '1' };

  const startService = async (extra: Record<string, string> = {}) => {
    registry = createRegistry({ defaultMetrics: false });
    const config = loadDiscordConfig({
      REDIS_URL: inject('redisUrl'),
      SWITCHBOARD_PREFIX: t.prefix,
      DISCORD_BOT_TOKEN: TOKEN,
      DISCORD_API_URL: dc.apiUrl,
      DISCORD_CHAT_INTERVAL_MS: '20',
      DISCORD_EDIT_INTERVAL_MS: '0',
      DISCORD_REST_TIMEOUT_MS: '1500',
      DISCORD_CATCHUP_WINDOW_HOURS: '24',
      ...env,
      ...extra,
    });
    service = (await startDiscordService({ config, logger: createLogger({ service: 'discord', level: process.env.TEST_LOG_LEVEL ?? 'silent' }), registry, redisUrl: inject('redisUrl') }))!;
    await service.ready;
  };
  const replies = (channel: string) => dc.messages(channel).map((m) => m.content);
  const metric = async (name: string) =>
    Object.fromEntries(((await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? []).map((v) => [v.labels.outcome, v.value])) as Record<string, number>;

  beforeAll(async () => {
    t = await startTestSystem({ env });
    dc = await startFakeDiscord({ token: TOKEN, bot: BOT, guild: { id: GUILD, channels: [{ id: CHANNEL, name: 'general' }] } });
    await startService();
  });
  afterAll(async () => {
    await service?.close();
    await dc?.close();
    await t?.stop();
  });

  it('answers each message sent while it was down exactly once, in order; nothing answered before again; stale channels are not fetched', async () => {
    // Before the stop: answered live.
    dc.dispatch('MESSAGE_CREATE', message(alice, dmChannel(alice), 'dm before'));
    dc.dispatch('MESSAGE_CREATE', message(bob, CHANNEL, 'channel before', true));
    await waitFor(() => replies(dmChannel(alice)).some((c) => c.includes('dm before')) && replies(CHANNEL).some((c) => c.includes('channel before')), { timeoutMs: 20_000 });
    // carol's DM was active 30 h ago: outside the 24 h window.
    const redis = createRedis(inject('redisUrl'), 'catchup-test');
    try {
      const key = `${t.prefix}:ch:discord:${BOT_ID}:catchup`;
      await redis.zadd(`${key}:active`, Date.now() - 30 * 3_600_000, dmChannel(carol));
      await redis.hset(`${key}:state`, dmChannel(carol), `${fakeSnowflake()}||${dmChannel(carol)}|`);
    } finally {
      redis.disconnect();
    }

    await service!.close();
    service = undefined;
    // Written while no client is connected: only a fetch can find them.
    const missed = [
      message(alice, dmChannel(alice), 'dm missed one'),
      message(bob, CHANNEL, 'chatter without a mention'),
      message(bob, CHANNEL, 'channel missed one', true),
      message(alice, dmChannel(alice), 'dm missed two'),
      message(bob, CHANNEL, 'channel missed two', true),
      message(carol, dmChannel(carol), 'carol while stale'),
    ];
    for (const m of missed) expect(dc.dispatch('MESSAGE_CREATE', m)).toBe(0);

    const identifies = dc.identifies.length;
    await startService();
    expect(dc.identifies.length).toBe(identifies + 1);
    // Live while the catch-up may still run: answered after the fetched ones.
    dc.dispatch('MESSAGE_CREATE', message(alice, dmChannel(alice), 'dm live after'));
    await waitFor(() => replies(dmChannel(alice)).some((c) => c.includes('dm live after')) && replies(CHANNEL).some((c) => c.includes('channel missed two')), { timeoutMs: 30_000 });

    const dm = replies(dmChannel(alice)).filter((c) => c.startsWith('echo:'));
    expect(dm).toEqual(['echo: dm before', 'echo: dm missed one', 'echo: dm missed two', 'echo: dm live after']);
    const channel = replies(CHANNEL).filter((c) => c.startsWith('echo:'));
    expect(channel).toEqual(['echo: channel before', 'echo: channel missed one', 'echo: channel missed two']);
    // Each turn saw its message once: the model was asked about every missed message exactly once.
    for (const text of ['dm missed one', 'dm missed two', 'channel missed one', 'channel missed two']) {
      const asked = t.model.requests.filter((q) => {
        const last = q.messages.filter((m) => m.role === 'user').at(-1);
        return typeof last?.content === 'string' && last.content.includes(text);
      });
      expect(asked, text).toHaveLength(1);
    }
    // Only the two active channels were read, starting after what had been handled.
    expect(new Set(dc.historyReads.map((r) => r.channelId))).toEqual(new Set([dmChannel(alice), CHANNEL]));
    expect(replies(dmChannel(carol))).toEqual([]);
    // The four missed ones (and the live one, if the fetch came after it: then the gateway's copy is the duplicate);
    // ignored: the chatter and the bot's own earlier replies.
    const caught = await metric('switchboard_discord_catchup_messages_total');
    expect(caught.accepted).toBeGreaterThanOrEqual(4);
    expect(caught.ignored).toBeGreaterThanOrEqual(1);
    expect(await metric('switchboard_discord_catchup_channels_total')).toEqual({ done: 2 });
  });

  it('a second restart fetches nothing new: the caught-up messages moved the stored ids on', async () => {
    await service!.close();
    service = undefined;
    const reads = dc.historyReads.length;
    await startService();
    await waitFor(async () => ((await metric('switchboard_discord_catchup_channels_total')).done ?? 0) === 2);
    const fetched = dc.historyReads.slice(reads);
    expect(fetched).toHaveLength(2);
    const dm = replies(dmChannel(alice)).filter((c) => c.startsWith('echo:'));
    expect(dm).toHaveLength(4);
    // Only the bot's own replies (ignored) could come after the stored ids.
    expect((await metric('switchboard_discord_catchup_messages_total')).accepted ?? 0).toBe(0);
  });

  it('with DISCORD_CATCHUP_WINDOW_HOURS=0 a restart fetches nothing', async () => {
    await service!.close();
    service = undefined;
    dc.dispatch('MESSAGE_CREATE', message(alice, dmChannel(alice), 'missed with catch-up off'));
    const reads = dc.historyReads.length;
    await startService({ DISCORD_CATCHUP_WINDOW_HOURS: '0' });
    dc.dispatch('MESSAGE_CREATE', message(alice, dmChannel(alice), 'live with catch-up off'));
    await waitFor(() => replies(dmChannel(alice)).some((c) => c.includes('live with catch-up off')), { timeoutMs: 20_000 });
    expect(dc.historyReads.length).toBe(reads);
    expect(replies(dmChannel(alice)).some((c) => c.includes('missed with catch-up off'))).toBe(false);
  });

  it('rejects a bad window', () => {
    expect(() => loadDiscordConfig({ DISCORD_CATCHUP_WINDOW_HOURS: '-1' })).toThrow(/DISCORD_CATCHUP_WINDOW_HOURS/);
    expect(() => loadDiscordConfig({ DISCORD_CATCHUP_MAX_MESSAGES: '0' })).toThrow(/DISCORD_CATCHUP_MAX_MESSAGES/);
  });
});
