import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { uniquePrefix } from '@switchboard/testkit';
import { ChannelAccess } from './access.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('ChannelAccess.handleOnce', () => {
  it('handles a delivery once, and again after a failed attempt (the platform redelivers it)', async () => {
    const redis = createRedis(inject('redisUrl'));
    cleanups.push(() => redis.disconnect());
    const access = new ChannelAccess({ redis, prefix: uniquePrefix('access'), platform: 'test', account: 'bot', policy: 'open', allowFrom: [], pairingTtlSeconds: 600 });
    let runs = 0;
    const failing = async () => {
      runs++;
      throw new Error('redis down');
    };
    await expect(access.handleOnce('u1', failing)).rejects.toThrow('redis down');
    expect(await access.handleOnce('u1', async () => (runs++, 'handled'))).toBe('handled');
    expect(await access.handleOnce('u1', async () => (runs++, 'handled'))).toBe('duplicate');
    expect(runs).toBe(2);
  });
});
