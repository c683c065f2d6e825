import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { DeliverInput, Scheduler } from '@switchboard/scheduler';
import { createLogger, jsonErrorHandler } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { loadWebConfig } from '../config.ts';
import { schedulesRouter } from './schedules.ts';

const prefix = uniquePrefix('schedroute');
const redis = createRedis(inject('redisUrl'), 'test');
const scheduler = new Scheduler(redis, prefix, { perConversation: 3, perAccount: 100 });
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  // Stands in for apiAuth: the account comes from an `x-account` header.
  app.use((req, res, next) => {
    res.locals.caller = { account: req.get('x-account') ?? 'acct1' };
    next();
  });
  app.use(express.json());
  app.use(schedulesRouter(scheduler));
  app.use(jsonErrorHandler(createLogger({ service: 'test', level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await scheduler.queue.obliterate({ force: true });
  await scheduler.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const call = (method: string, path: string, body?: unknown, account = 'acct1') =>
  fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', 'x-account': account }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

describe('/v1/schedules', () => {
  it('creates, lists per account and deletes', async () => {
    const res = await call('POST', '/v1/schedules', { sessionId: 'web1', message: 'ping', everyMs: 60_000 });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    expect(id).toMatch(/^sch_/);
    const isolated = (await (await call('POST', '/v1/schedules', { message: 'alone', everyMs: 60_000 })).json()) as { id: string; sessionId: string };
    expect(isolated.sessionId).toMatch(/^sched-[0-9a-f]{12}$/);
    const cron = await call('POST', '/v1/schedules', { sessionId: 'web1', message: 'daily', cron: '0 9 * * *', timezone: 'Europe/Berlin' });
    expect(cron.status).toBe(201);
    const list = (await (await call('GET', '/v1/schedules')).json()) as { schedules: Array<{ id: string; sessionId: string; everyMs?: number; nextRunAt?: string }> };
    expect(list.schedules.map((s) => s.id)).toContain(id);
    expect(list.schedules.find((s) => s.id === id)).toMatchObject({ sessionId: 'web1', message: 'ping', everyMs: 60_000 });
    const record = await scheduler.get(id);
    expect(record?.sessionKey).toBe('web:acct1:web1');
    expect(record?.target).toMatchObject({ platform: 'web', account: 'acct1', chatId: 'web1' });
    // Another account sees none of them and cannot delete them.
    expect(((await (await call('GET', '/v1/schedules', undefined, 'acct2')).json()) as { schedules: unknown[] }).schedules).toEqual([]);
    expect((await call('DELETE', `/v1/schedules/${id}`, undefined, 'acct2')).status).toBe(404);
    expect((await call('DELETE', `/v1/schedules/${id}`)).status).toBe(204);
    expect((await call('DELETE', `/v1/schedules/${id}`)).status).toBe(404);
    expect((await call('DELETE', '/v1/schedules/12345')).status).toBe(404);
  });

  it('answers 409 limit_reached once the session has as many schedules as it may, and creates nothing', async () => {
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/schedules', { sessionId: 'full', message: `m${i}`, everyMs: 60_000 }, 'acct4')).status).toBe(201);
    const res = await call('POST', '/v1/schedules', { sessionId: 'full', message: 'one more', everyMs: 60_000 }, 'acct4');
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'limit_reached', message: expect.stringContaining('SCHEDULES_MAX_PER_CONVERSATION') });
    expect(await scheduler.list('acct4')).toHaveLength(3);
    // Another session of the same account still has room.
    expect((await call('POST', '/v1/schedules', { sessionId: 'other', message: 'fine', everyMs: 60_000 }, 'acct4')).status).toBe(201);
  });

  it('answers bad input with a JSON 400 and creates nothing', async () => {
    const before = await scheduler.queue.getJobSchedulersCount();
    for (const body of ['{nope', { sessionId: 'web1', message: 'x' }, { sessionId: 'web1', message: 'x', everyMs: 10 }, { sessionId: 'web1', message: 'x', cron: 'every day' }, { sessionId: 'web1', message: 'x', at: '2000-01-01T00:00:00Z' }, { sessionId: 'a:b', message: 'x', everyMs: 1000 }, { sessionId: 'web1', message: 'x', cron: '0 9 * * *', timezone: 'Nowhere/Land' }]) {
      const res = await call('POST', '/v1/schedules', body, 'acct3');
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    }
    expect(await scheduler.queue.getJobSchedulersCount()).toBe(before);
    expect(await scheduler.list('acct3')).toEqual([]);
  });
});

/**
 * A schedule (or hook) that delivers to a web session names the caller's session
 * `chatId`; its answer must reach that session's event stream (`GET /v1/sessions/{chatId}/events`),
 * never a stream no route reads. With a `threadId` the target session key was
 * `web:<account>:<chatId>:t=<threadId>`: the answer was published where nobody could see it.
 */
describe('a web delivery target with a threadId', () => {
  it('is refused with a JSON 400 naming deliver.threadId, and nothing is created', async () => {
    const res = await call('POST', '/v1/schedules', { sessionId: 'runs', message: 'report', everyMs: 60_000, deliver: { channel: 'web', chatId: 'inbox1', threadId: 't1' } }, 'acct-thread');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details?: unknown } };
    expect(body.error.code).toBe('bad_request');
    expect(JSON.stringify(body.error)).toContain('deliver.threadId');
    expect(await scheduler.list('acct-thread')).toEqual([]);
  });

  it('is refused wherever a delivery target is read (the schedule tool, heartbeats), by the shared schema', () => {
    expect(DeliverInput.safeParse({ channel: 'web', chatId: 'inbox1', threadId: 't1' }).success).toBe(false);
    expect(DeliverInput.safeParse({ channel: 'web', chatId: 'inbox1' }).success).toBe(true);
    expect(DeliverInput.safeParse({ channel: 'telegram', chatId: '42', threadId: '7' }).success).toBe(true);
  });

  it('in a hook’s configuration is refused at start-up', () => {
    const hooks = JSON.stringify({ deploys: { secret: 'x'.repeat(16), deliver: { channel: 'web', chatId: 'inbox1', threadId: 't1' } } });
    expect(() => loadWebConfig({ HOOKS: hooks })).toThrow(/HOOKS/);
  });
});
