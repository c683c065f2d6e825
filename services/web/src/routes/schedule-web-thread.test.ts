/**
 * A schedule (or hook) that delivers to a web session names the caller's session
 * `chatId`; its answer must reach that session's event stream (`GET /v1/sessions/{chatId}/events`),
 * never a stream no route reads. With a `threadId` the target session key was
 * `web:<account>:<chatId>:t=<threadId>`: the answer was published where nobody could see it.
 */
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

const prefix = uniquePrefix('probethread');
const redis = createRedis(inject('redisUrl'), 'test');
const scheduler = new Scheduler(redis, prefix);
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.caller = { account: 'acct1' };
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

describe('a web delivery target with a threadId', () => {
  it('is refused with a JSON 400 naming deliver.threadId, and nothing is created', async () => {
    const res = await fetch(`${base}/v1/schedules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: 'runs', message: 'report', everyMs: 60_000, deliver: { channel: 'web', chatId: 'inbox1', threadId: 't1' } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details?: unknown } };
    expect(body.error.code).toBe('bad_request');
    expect(JSON.stringify(body.error)).toContain('deliver.threadId');
    expect(await scheduler.list('acct1')).toEqual([]);
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
