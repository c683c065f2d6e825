import type { Server } from 'node:http';
import type { App } from '@slack/bolt';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { channelMetrics } from '@switchboard/channels';
import { createLogger, createRegistry } from '@switchboard/observability';
import { slackSignatureHeaders } from '@switchboard/testkit';
import { SlackHttpReceiver } from './http-receiver.ts';

const SECRET = 'unitsigningsecret123';
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

/** The receiver in front of a stand-in for Bolt's App whose processEvent does what the test says. */
async function receiver(processEvent: (event: { ack: (r?: unknown) => Promise<void> }) => Promise<void>, opts: { ready?: boolean; deadlineMs?: number } = {}) {
  const registry = createRegistry({ defaultMetrics: false });
  const r = new SlackHttpReceiver({
    signingSecret: SECRET,
    isReady: () => opts.ready ?? true,
    ackDeadlineMs: opts.deadlineMs ?? 2500,
    metrics: channelMetrics(registry),
    logger: createLogger({ service: 'slack-test', level: 'silent' }),
  });
  r.init({ processEvent } as unknown as App);
  const app = express().use(r.router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  const port = (server.address() as { port: number }).port;
  return {
    registry,
    post: (body: string, contentType = 'application/json') =>
      fetch(`http://127.0.0.1:${port}/webhooks/slack`, { method: 'POST', headers: { 'content-type': contentType, ...slackSignatureHeaders(SECRET, body) }, body }),
  };
}

const event = JSON.stringify({
  type: 'event_callback',
  team_id: 'T1',
  event_id: 'Ev1',
  event: { type: 'message', channel: 'D1', channel_type: 'im', user: 'U1', text: 'hi', ts: '1.000001' },
});

describe('SlackHttpReceiver', () => {
  it('answers 200 once the listeners are done, with what they acked', async () => {
    let done = false;
    const r = await receiver(async ({ ack }) => {
      await ack();
      await new Promise((res) => setTimeout(res, 50));
      done = true;
    });
    const res = await r.post(event);
    expect(res.status).toBe(200);
    expect(done).toBe(true);
  });

  it('acknowledges at the deadline when admission is slow, and keeps admitting behind it', async () => {
    let finished = false;
    const r = await receiver(
      async ({ ack }) => {
        await ack();
        await new Promise((res) => setTimeout(res, 3000));
        finished = true;
      },
      { deadlineMs: 200 },
    );
    const t0 = Date.now();
    const res = await r.post(event);
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(finished).toBe(false);
  });

  it('answers 500 when handling failed (Slack retries), 503 before auth.test, 400 for a broken body', async () => {
    const failing = await receiver(async () => {
      throw new Error('redis is down');
    });
    expect((await failing.post(event)).status).toBe(500);
    const early = await receiver(async () => undefined, { ready: false });
    expect((await early.post(event)).status).toBe(503);
    expect((await failing.post('{not json')).status).toBe(400);
    expect((await failing.post('payload=%7Bbroken', 'application/x-www-form-urlencoded')).status).toBe(400);
    expect((await failing.post(JSON.stringify({ type: 'event_callback', team_id: 'T1', event_id: 'Ev2', event: { type: 'message', channel: 'D1', text: 'no ts' } }))).status).toBe(400);
    expect(await failing.registry.metrics()).toMatch(/switchboard_inbound_messages_total\{platform="slack",outcome="rejected"\} 3/);
  });
});
