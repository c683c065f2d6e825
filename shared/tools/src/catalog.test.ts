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
});
