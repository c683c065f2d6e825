import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ToolDefinition } from '@switchboard/contracts';
import { ToolCatalog } from './catalog.ts';

const redis = new Redis(inject('redisUrl'));
const prefix = `catalogtest${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const tool = (name: string): ToolDefinition => ({ name, description: name, parameters: { type: 'object' }, timeoutMs: 1000, risk: 'low' });
const names = async (c: ToolCatalog) => (await c.list()).map((t) => t.name);

describe('ToolCatalog', () => {
  it('is the union of the live runners’ snapshots: a tool a runner stops publishing, or a runner that leaves, is gone', async () => {
    const catalog = new ToolCatalog(redis, prefix, 0);
    await catalog.publish([tool('legacy')]);
    expect(await names(catalog)).toEqual(['legacy']);
    await catalog.publish([tool('a'), tool('shared')], { publisher: 'r1' });
    await catalog.publish([tool('shared'), tool('b')], { publisher: 'r2' });
    // Snapshots replace the id-less hash of older runners.
    expect(await names(catalog)).toEqual(['a', 'b', 'shared']);
    await catalog.publish([tool('shared')], { publisher: 'r1' });
    expect(await names(catalog)).toEqual(['b', 'shared']);
    await catalog.withdraw('r2');
    expect(await names(catalog)).toEqual(['shared']);
    // A runner that died without withdrawing leaves when its snapshot expires.
    await catalog.publish([], { publisher: 'r1', ttlSeconds: 1 });
    await catalog.publish([tool('c')], { publisher: 'r3', ttlSeconds: 1 });
    expect(await names(catalog)).toEqual(['c']);
    await redis.pexpire(`${prefix}:tools:catalog:snapshot:r3`, 1);
    await new Promise((r) => setTimeout(r, 20));
    // r1 is still there and offers nothing.
    expect(await names(catalog)).toEqual([]);
    expect(await redis.smembers(`${prefix}:tools:catalog:publishers`)).toEqual(['r1']);
  });

  it('shares one read among calls that find the cache stale, and keeps the tool objects while the snapshots are unchanged', async () => {
    const own = `${prefix}shared`;
    const runner = new ToolCatalog(redis, own);
    await runner.publish([tool('a'), tool('b')], { publisher: 'r1' });
    const counting = redis.duplicate();
    let reads = 0;
    const smembers = counting.smembers.bind(counting);
    counting.smembers = ((...args: Parameters<typeof smembers>) => (reads++, smembers(...args))) as typeof counting.smembers;
    const catalog = new ToolCatalog(counting, own, 0);
    const lists = await Promise.all(Array.from({ length: 20 }, () => catalog.list()));
    expect(reads).toBe(1);
    expect(new Set(lists).size).toBe(1);
    const again = await catalog.list();
    expect(reads).toBe(2);
    expect(again).toBe(lists[0]); // unchanged snapshots: the same objects, not parsed again
    await runner.publish([tool('a'), tool('c')], { publisher: 'r1' });
    const changed = await catalog.list();
    expect(changed.map((t) => t.name)).toEqual(['a', 'c']);
    expect(changed[0]).not.toBe(again[0]);
    counting.disconnect();
  });

  it('does not cache a read that began before a change made through the same instance', async () => {
    const own = `${prefix}gen`;
    const held = redis.duplicate();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const mget = held.mget.bind(held);
    held.mget = (async (...args: Parameters<typeof mget>) => (await gate, mget(...args))) as typeof held.mget;
    const catalog = new ToolCatalog(held, own, 60_000);
    await catalog.publish([tool('a')], { publisher: 'r1' });
    const stale = catalog.list(); // has read the publishers (r1 only), waits at the gate
    await new Promise((resolve) => setTimeout(resolve, 20));
    await catalog.publish([tool('d')], { publisher: 'r2' });
    const fresh = catalog.list(); // asked while the stale read is still under way: not joined to it
    release();
    expect((await stale).map((t) => t.name)).toEqual(['a']);
    expect((await fresh).map((t) => t.name)).toEqual(['a', 'd']);
    expect((await catalog.list()).map((t) => t.name)).toEqual(['a', 'd']);
    held.disconnect();
  });
});
