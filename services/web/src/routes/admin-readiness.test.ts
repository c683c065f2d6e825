/**
 * The web service on its own: /readyz follows Redis and the database (when it has one), and the
 * console's database views say clearly when there is none.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { startRedisServer, uniquePrefix, waitFor, type PrivateRedis } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from '../service.ts';

/** A database double whose reachability the test switches. */
function fakeDb() {
  const state = { up: true };
  const db: Db = {
    kind: 'pg',
    query: () => Promise.reject(new Error('not used')),
    transaction: () => Promise.reject(new Error('not used')),
    ping: () => (state.up ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))),
    close: () => Promise.resolve(),
  };
  return { db, state };
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(redis: PrivateRedis, db?: Db): Promise<WebService> {
  const config = loadWebConfig({ PORT: '0', HOST: '127.0.0.1', REDIS_URL: redis.url, SWITCHBOARD_PREFIX: uniquePrefix('webready') });
  const web = await startWebService({ config, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry(), redisUrl: redis.url, ...(db ? { db } : {}) });
  cleanup.push(() => web.close());
  return web;
}

async function readyz(web: WebService): Promise<{ status: number; body: { status: string; failures?: Record<string, string> } }> {
  const res = await fetch(`${web.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; failures?: Record<string, string> } };
}

describe('web /readyz', () => {
  it('reports the database and Redis, and recovers when they come back', async () => {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const { db, state } = fakeDb();
    const web = await start(redis, db);
    expect(await readyz(web)).toEqual({ status: 200, body: { status: 'ready' } });

    state.up = false;
    const down = await readyz(web);
    expect(down.status).toBe(503);
    expect(down.body.failures).toEqual({ database: expect.stringContaining('ECONNREFUSED') });
    state.up = true;

    // Redis stops answering (every client paused): the ping misses its deadline. A paused Redis
    // rather than a stopped one, because BullMQ workers can take long to close after a reconnect.
    const admin = createRedis(redis.url, 'test-admin');
    cleanup.push(async () => void admin.disconnect());
    // 4 s: longer than the 2 s check deadline; Redis lifts the pause by itself (CLIENT UNPAUSE would wait too).
    await admin.call('CLIENT', 'PAUSE', '4000', 'ALL');
    const noRedis = await readyz(web);
    expect(noRedis.status).toBe(503);
    expect(Object.keys(noRedis.body.failures ?? {})).toEqual(['redis']);
    await waitFor(async () => (await readyz(web)).status === 200, { timeoutMs: 10_000, message: 'ready again once Redis answers' });
  });

  it('without a database, checks Redis only and the console says the database is missing', async () => {
    const redis = await startRedisServer();
    cleanup.push(() => redis.stop());
    const web = await start(redis);
    expect(await readyz(web)).toEqual({ status: 200, body: { status: 'ready' } });
    // Loopback-only mode (no API keys): the test is a loopback client.
    const res = await fetch(`${web.url}/v1/admin/sessions`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'no_database', message: expect.stringContaining('DATABASE_URL') } });
    // Queues live in Redis and still work.
    const queues = await fetch(`${web.url}/v1/admin/queues`);
    expect(queues.status).toBe(200);
    expect(((await queues.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name)).toEqual(expect.arrayContaining(['tools', 'turns']));
  });
});
