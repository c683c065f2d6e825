import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { startFakeDiscord, uniquePrefix, waitFor, type FakeDiscord } from '@switchboard/testkit';
import { loadDiscordConfig } from './config.ts';
import { startDiscordService, type DiscordService } from './service.ts';

const BOT_ID = '111222333444555666';
const token = (secret: string) => `${Buffer.from(BOT_ID).toString('base64')}.GhIjKl.${secret}`;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(fakeToken: string, serviceToken: string): Promise<{ dc: FakeDiscord; service: DiscordService }> {
  const dc = await startFakeDiscord({ token: fakeToken, bot: { id: BOT_ID, username: 'switchboard' } });
  cleanups.push(() => dc.close());
  const config = loadDiscordConfig({ REDIS_URL: inject('redisUrl'), SWITCHBOARD_PREFIX: uniquePrefix('dc'), DISCORD_BOT_TOKEN: serviceToken, DISCORD_API_URL: dc.apiUrl });
  const service = (await startDiscordService({ config, logger: createLogger({ service: 'discord', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') }))!;
  cleanups.push(() => service.close());
  return { dc, service };
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
