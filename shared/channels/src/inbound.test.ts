import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, type LaneIngress } from '@switchboard/lanes';
import { createLogger } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { ChannelAccess } from './access.ts';
import { admitMessage, type NormalizedInbound } from './inbound.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const message = (id: string): NormalizedInbound => ({
  v: 1, id, platform: 'test', sessionKey: 'test:bot:dm1', account: 'bot', chatId: 'dm1', userId: 'stranger', kind: 'user', text: 'hello?', receivedAtMs: Date.now(),
});

describe('admitMessage pairing', () => {
  it('tells the code after all when sending it failed: the redelivery sends it, a later message does not repeat it', async () => {
    const redis = createRedis(inject('redisUrl'));
    cleanups.push(() => redis.disconnect());
    const access = new ChannelAccess({ redis, prefix: uniquePrefix('pairing'), platform: 'test', account: 'bot', policy: 'pairing', allowFrom: [], pairingTtlSeconds: 600 });
    const sent: string[] = [];
    let failNext = true;
    const deps = {
      platform: 'test',
      access,
      ingress: {} as LaneIngress, // never reached: a stranger's message does not go on a lane
      logger: createLogger({ service: 'test', level: 'silent' }),
      groupRequireMention: false,
      async sendPairingCode(_chatId: string, code: string) {
        if (failNext) {
          failNext = false;
          throw new Error('the platform is down');
        }
        sent.push(code);
      },
    };
    const admit = (deliveryId: string) => admitMessage(deps, { deliveryId, message: message(deliveryId), isPrivate: true, mentioned: false });
    await expect(admit('d1')).rejects.toThrow('the platform is down');
    expect(await admit('d1')).toBe('pairing'); // the platform redelivers it
    expect(sent).toHaveLength(1);
    expect(await admit('d2')).toBe('pairing'); // the stranger writes again at once
    expect(await admit('d2')).toBe('denied'); // a redelivery of that one
    expect(sent).toHaveLength(1);
  });
});
