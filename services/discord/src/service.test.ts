import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeSnowflake, startFakeDiscord, uniquePrefix, waitFor, type FakeDiscord } from '@switchboard/testkit';
import { loadDiscordConfig } from './config.ts';
import { startDiscordService, type DiscordService } from './service.ts';

const BOT_ID = '111222333444555666';
const token = (secret: string) => `${Buffer.from(BOT_ID).toString('base64')}.GhIjKl.${secret}`;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(fakeToken: string, serviceToken: string): Promise<{ dc: FakeDiscord; service: DiscordService & { registry: ReturnType<typeof createRegistry> } }> {
  const dc = await startFakeDiscord({ token: fakeToken, bot: { id: BOT_ID, username: 'switchboard' } });
  cleanups.push(() => dc.close());
  const config = loadDiscordConfig({ REDIS_URL: inject('redisUrl'), SWITCHBOARD_PREFIX: uniquePrefix('dc'), DISCORD_BOT_TOKEN: serviceToken, DISCORD_API_URL: dc.apiUrl });
  const registry = createRegistry({ defaultMetrics: false });
  const service = (await startDiscordService({ config, logger: createLogger({ service: 'discord', level: process.env.TEST_LOG_LEVEL ?? 'silent' }), registry, redisUrl: inject('redisUrl') }))!;
  cleanups.push(() => service.close());
  return { dc, service: Object.assign(service, { registry }) };
}

describe('discord service readiness', () => {
  it('is not ready, and says why, while the gateway rejects the token; the process keeps running', async () => {
    const { service } = await start(token('right'), token('wrong'));
    await waitFor(async () => {
      const err = await service.readiness.discord!().then(() => undefined, (e: Error) => e);
      return err && /login failed/.test(err.message) ? err : undefined;
    });
  });

  it('turns not ready while a shard reconnects and ready again once it resumed', async () => {
    const { dc, service } = await start(token('right'), token('right'));
    await service.ready;
    await expect(service.readiness.discord!()).resolves.toBeUndefined();
    dc.dropConnection(4000);
    await waitFor(async () => (await service.readiness.discord!().then(() => false, () => true)));
    await dc.waitForSessions(2);
    await waitFor(async () => (await service.readiness.discord!().then(() => true, () => false)));
    expect(dc.resumes).toHaveLength(1);
  });

  it('is off without a token', async () => {
    const config = loadDiscordConfig({ REDIS_URL: inject('redisUrl') });
    await expect(startDiscordService({ config, logger: createLogger({ service: 'discord', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') })).resolves.toBeUndefined();
  });
});

describe('discord gateway events the bot does not expect', () => {
  it('are ignored or rejected without crashing the client, and every other event still flows', async () => {
    const { dc, service } = await start(token('right'), token('right'));
    await service.ready;
    const registry = service.registry;
    const base = { type: 0, author: { id: '100000000000000001', username: 'alice' }, content: 'hi', timestamp: new Date().toISOString(), mentions: [], attachments: [] };
    // A channel and a guild discord.js has never seen (no mention: ignored in servers).
    dc.dispatch('MESSAGE_CREATE', { ...base, id: fakeSnowflake(), channel_id: '599999999999999999', guild_id: '488888888888888888' });
    dc.dispatch('MESSAGE_UPDATE', { id: fakeSnowflake(), channel_id: '599999999999999999', embeds: [] });
    // Invalid: rejected before discord.js's own handlers (which would throw on them) see them.
    dc.dispatch('MESSAGE_UPDATE', null);
    dc.dispatch('MESSAGE_CREATE', { id: 42 });
    // A slash command this bot never registered: answered privately rather than left to time out.
    const commandId = fakeSnowflake();
    dc.dispatch('INTERACTION_CREATE', { id: commandId, application_id: BOT_ID, type: 2, token: 'tok', channel_id: '300000000000000001', user: { id: '100000000000000001', username: 'alice' }, data: { name: 'x' } });
    dc.dispatch('MESSAGE_CREATE', { ...base, id: fakeSnowflake(), channel_id: '300000000000000001' });
    const outcomes = async () => Object.fromEntries((await registry.getMetricsAsJSON()).find((m) => m.name === 'switchboard_channel_updates_total')!.values.map((v) => [v.labels.outcome, v.value])) as Record<string, number>;
    await waitFor(async () => Object.values(await outcomes()).reduce((a, b) => a + b, 0) === 5).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await outcomes())} ${JSON.stringify(dc.calls.map((c) => [c.method, c.path, c.status]))}`);
    });
    // Counted: the server message (no mention) and the command are ignored; the partial update is not a delivery.
    expect(await outcomes()).toEqual({ ignored: 2, rejected: 2, pairing: 1 });
    expect(dc.interactionReplies).toEqual([{ interactionId: commandId, type: 4, data: expect.objectContaining({ flags: 64 }) }]);
  });
});
