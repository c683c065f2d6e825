/**
 * discord.js's own MESSAGE_CREATE handling (beside our Events.Raw listener) added a DMChannel to
 * `client.channels.cache` for every DM channel a message arrived in, and nothing removed it: one
 * object per user who ever wrote the bot, for the life of the process. The service reads messages
 * and interactions from the raw packets and now hides those packets from discord.js.
 *
 * The DMs below carry `channel_type: 1`, the MESSAGE_CREATE field discord.js 14.28's
 * MessageCreateAction reads to recognise a DM (discordjs/discord.js#11495).
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { ChannelManager } from 'discord.js';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeSnowflake, startFakeDiscord, uniquePrefix, waitFor } from '@switchboard/testkit';
import { loadDiscordConfig } from './config.ts';
import { startDiscordService } from './service.ts';

const BOT_ID = '111222333444555666';
const TOKEN = `${Buffer.from(BOT_ID).toString('base64')}.GhIjKl.right`;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('discord gateway connection: what discord.js caches', () => {
  it('does not keep one cached channel per DM user for the life of the process', async () => {
    const adds = vi.spyOn(ChannelManager.prototype, '_add');
    cleanups.push(() => adds.mockRestore());
    const dc = await startFakeDiscord({ token: TOKEN, bot: { id: BOT_ID, username: 'switchboard' } });
    cleanups.push(() => dc.close());
    // DMs are refused outright: the service does nothing with them, discord.js still caches their channels.
    const config = loadDiscordConfig({ REDIS_URL: inject('redisUrl'), SWITCHBOARD_PREFIX: uniquePrefix('dcprobe'), DISCORD_BOT_TOKEN: TOKEN, DISCORD_API_URL: dc.apiUrl, DISCORD_DM_POLICY: 'disabled' });
    const registry = createRegistry({ defaultMetrics: false });
    const service = (await startDiscordService({ config, logger: createLogger({ service: 'discord', level: 'silent' }), registry, redisUrl: inject('redisUrl') }))!;
    cleanups.push(() => service.close());
    await service.ready;

    const USERS = 300;
    for (let i = 0; i < USERS; i++) {
      const user = { id: String(200000000000000000n + BigInt(i)), username: `user${i}` };
      dc.dispatch('MESSAGE_CREATE', { id: fakeSnowflake(), channel_id: String(700000000000000000n + BigInt(i)), channel_type: 1, type: 0, author: user, content: 'hi', timestamp: new Date().toISOString(), mentions: [], attachments: [] });
    }
    const managers = () => new Set(adds.mock.contexts as ChannelManager[]);
    const dmChannels = () => Math.max(0, ...[...managers()].map((m) => m.cache.filter((c) => c.isDMBased()).size));
    await waitFor(() => dmChannels() >= USERS, { timeoutMs: 10_000 }).catch(() => undefined);
    // Before the fix: 300 DMChannel objects, one per user, never evicted.
    expect(dmChannels(), `${dmChannels()} DM channels cached after ${USERS} users wrote one DM each`).toBeLessThan(50);
  });
});
