import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from '@switchboard/testkit';
import { createRedis } from './index.ts';

interface Scripted {
  echoKey(key: string, value: string): Promise<[string, string]>;
  echoKeyBuffer(key: string, value: string): Promise<[Buffer, Buffer]>;
  countUp(key: string): Promise<number>;
}

const ECHO = { numberOfKeys: 1, lua: "return { KEYS[1], ARGV[1] }" };

const clients: Redis[] = [];
afterEach(() => {
  while (clients.length) clients.pop()!.disconnect();
});

function connect(autoPipelining: boolean): Redis & Scripted {
  const redis = createRedis(inject('redisUrl'), 'redis-test', { autoPipelining });
  clients.push(redis);
  return redis as Redis & Scripted;
}

describe('createRedis with auto-pipelining', () => {
  it('makes pipelines that run the connection’s scripts without copying them onto each pipeline', async () => {
    const redis = connect(true);
    redis.defineCommand('echoKey', ECHO);
    const pipeline = redis.pipeline() as unknown as Scripted & Record<string, unknown>;
    // Nothing of the script is the pipeline's own: it is found on the shared prototype.
    expect(Object.hasOwn(pipeline, 'echoKey')).toBe(false);
    expect(typeof pipeline.echoKey).toBe('function');
    // Auto-pipelined calls (one batch) and their replies, in order, strings and buffers.
    const prefix = uniquePrefix('pipe');
    const replies = await Promise.all([redis.echoKey(`${prefix}:a`, '1'), redis.echoKeyBuffer(`${prefix}:b`, '2'), redis.echoKey(`${prefix}:c`, '3')]);
    expect(replies[0]).toEqual([`${prefix}:a`, '1']);
    expect(replies[1].map(String)).toEqual([`${prefix}:b`, '2']);
    expect(replies[2]).toEqual([`${prefix}:c`, '3']);
  });

  it('finds a script defined after the first pipeline, and an explicit pipeline runs scripts and commands', async () => {
    const redis = connect(true);
    const key = `${uniquePrefix('pipe')}:n`;
    redis.defineCommand('echoKey', ECHO);
    await redis.echoKey(key, 'x');
    redis.defineCommand('countUp', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" });
    expect(await Promise.all([redis.countUp(key), redis.countUp(key)])).toEqual([1, 2]);
    const explicit = redis.pipeline([['get', key]]);
    (explicit as unknown as Scripted).echoKey(key, 'y');
    expect(await explicit.exec()).toEqual([
      [null, '2'],
      [null, [key, 'y']],
    ]);
    await redis.del(key);
  });

  it('falls back to EVAL when Redis has lost the scripts (SCRIPT FLUSH)', async () => {
    const redis = connect(true);
    redis.defineCommand('echoKey', ECHO);
    const key = `${uniquePrefix('pipe')}:k`;
    await redis.echoKey(key, 'before');
    await redis.script('FLUSH');
    expect(await Promise.all([redis.echoKey(key, 'after'), redis.echoKey(key, 'again')])).toEqual([
      [key, 'after'],
      [key, 'again'],
    ]);
  });

  it('runs BullMQ on such a connection (its ~60 scripts shared the same way)', async () => {
    const redis = connect(true);
    const prefix = uniquePrefix('pipeq');
    const queue = new Queue('q', { connection: redis, prefix });
    try {
      const jobs = await Promise.all([queue.add('a', { n: 1 }), queue.add('b', { n: 2 }, { deduplication: { id: 'same' } }), queue.add('c', { n: 3 }, { deduplication: { id: 'same' } })]);
      expect(jobs[2]!.id).toBe(jobs[1]!.id);
      expect(await queue.getWaitingCount()).toBe(2);
      const pipeline = redis.pipeline() as unknown as Record<string, unknown>;
      expect(Object.keys(pipeline).length).toBeLessThan(20);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('makes every connection’s pipelines without a `length` of their own, and counts their commands', async () => {
    for (const autoPipelining of [true, false]) {
      const redis = connect(autoPipelining);
      redis.defineCommand('echoKey', ECHO);
      const pipeline = redis.pipeline();
      // ioredis' own constructor defines `length` on each pipeline with a closure of its own, which
      // gives each pipeline a hidden class of its own and has every one promoted to the old generation.
      expect(Object.getOwnPropertyDescriptor(pipeline, 'length')).toBeUndefined();
      expect(Object.hasOwn(pipeline, 'echoKey')).toBe(false);
      expect(pipeline.length).toBe(0);
      const key = `${uniquePrefix('pipe')}:len`;
      (pipeline.set(key, 'v').get(key) as unknown as Scripted).echoKey(key, 'z');
      expect(pipeline.length).toBe(3);
      expect(await pipeline.exec()).toEqual([
        [null, 'OK'],
        [null, 'v'],
        [null, [key, 'z']],
      ]);
      await redis.del(key);
    }
  });

  it('keeps what ioredis’ pipelines and transactions do: errors per command, MULTI/EXEC, pipeline promises', async () => {
    const redis = connect(true);
    const key = `${uniquePrefix('pipe')}:t`;
    const results = await redis.pipeline().set(key, 'x').incr(key).get(key).exec();
    expect(results![0]).toEqual([null, 'OK']);
    expect(results![1]![0]).toBeInstanceOf(Error);
    expect(results![2]).toEqual([null, 'x']);
    expect(await redis.multi().set(key, '1').incr(key).exec()).toEqual([
      [null, 'OK'],
      [null, 2],
    ]);
    await expect(redis.incr(key).then(() => redis.hget(key, 'f'))).rejects.toThrow(/WRONGTYPE/);
    await redis.del(key);
  });
});
