import { afterEach, describe, expect, inject, it } from 'vitest';
import { Queue } from 'bullmq';
import { outboundQueue } from '@switchboard/contracts';
import { createRegistry } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { createRedis, LaneStore, ReplyPublisher } from './index.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('a reply delivered again long after it was sent', () => {
  it('is not queued to the platform a second time once its finished job was removed', async () => {
    const prefix = uniquePrefix('probe-out');
    const redis = createRedis(inject('redisUrl'));
    const store = new LaneStore(redis, { prefix });
    const registry = createRegistry({ defaultMetrics: false });
    const queue = new Queue(outboundQueue('telegram').name, { connection: redis, prefix });
    const publisher = new ReplyPublisher({ store, connection: redis, prefix, queuedPlatforms: ['telegram'], registry });
    cleanups.push(async () => {
      await publisher.close();
      await queue.obliterate({ force: true });
      await queue.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    const reply = { v: 1 as const, id: 'reply-t1', turnId: 't1', sessionKey: 'telegram:bot:c', platform: 'telegram', account: 'bot', chatId: 'c', text: 'hello', inReplyTo: ['m1'] };
    await publisher.deliver(reply);
    const job = (await queue.getJob('reply-t1'))!;
    expect(job).toBeDefined();
    // The channel sent it; its finished job is removed after the queue's retention (an hour).
    await job.remove();
    // The worker died between delivering and acknowledging; every worker stayed down past that hour.
    // The turn resumes, finds its reply committed and delivers it again (idempotent, it says).
    await publisher.deliver(reply);
    // The session's event stream was not given the reply twice...
    expect((await store.readEvents('telegram:bot:c', '0')).filter((e) => e.event.type === 'reply')).toHaveLength(1);
    // ...and neither must the platform be.
    expect(await queue.getJob('reply-t1')).toBeUndefined();
  });
});
