/**
 * Before the fix: without API keys the loopback address is the operator's only credential, and a
 * browser on the operator's machine carries it for any page it shows. A cross-site page must not be
 * able to use it: neither with a "simple" POST that needs no CORS preflight (retrying a failed job),
 * nor through DNS rebinding (its own host name resolved to 127.0.0.1, so the browser treats the API
 * as same-origin and lets the page read transcripts and answer approvals).
 */
import { request } from 'node:http';
import { Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { waitFor } from '@switchboard/testkit';
import { startTestWebApp } from './test-support/web-app.ts';

type App = Awaited<ReturnType<typeof startTestWebApp>>;
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(): Promise<App> {
  const app = await startTestWebApp(inject('redisUrl'));
  cleanup.push(() => app.close());
  return app;
}

/** A raw HTTP request (fetch would not let the test set Host, Origin or Sec-Fetch-Site). */
function send(app: App, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The prefix the test app writes under (found from what a message it takes writes). */
async function prefixOf(app: App): Promise<string> {
  const res = await fetch(`${app.url}/v1/sessions/probe/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hi' }) });
  expect(res.status).toBe(202);
  const keys = await app.redis.keys(`webapp${process.pid}x*`);
  const prefix = keys[0]?.split(':')[0];
  if (!prefix) throw new Error('no prefix found');
  return prefix;
}

describe('loopback operator without API keys', () => {
  it('refuses a cross-site POST that needs no preflight (retrying a failed job)', async () => {
    const app = await start();
    // A failed job in a queue under the app's prefix.
    const prefix = await prefixOf(app);
    const connection = createRedis(inject('redisUrl'), 'probe');
    const queue = new Queue('probe-out', { connection, prefix });
    const worker = new Worker('probe-out', async () => { throw new Error('boom'); }, { connection: createRedis(inject('redisUrl'), 'probe-w'), prefix });
    cleanup.push(async () => {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    });
    const job = await queue.add('send', { x: 1 }, { attempts: 1 });
    await waitFor(async () => ((await job.getState()) === 'failed' ? true : undefined));
    await worker.close();

    // What `fetch(url, { method: 'POST', mode: 'no-cors' })` on https://evil.example sends.
    const res = await send(app, 'POST', `/v1/admin/queues/probe-out/jobs/${job.id}/retry`, {
      host: `127.0.0.1:${app.port}`,
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
      'content-length': '0',
    });
    expect(res.status, res.body).toBe(403);
    expect(await job.getState()).toBe('failed');
  });

  it('refuses a request whose Host is not a loopback name (DNS rebinding)', async () => {
    const app = await start();
    // The page at http://rebind.evil.example:<port>/, its name now resolving to 127.0.0.1.
    const res = await send(app, 'GET', '/v1/admin/queues', { host: `rebind.evil.example:${app.port}` });
    expect(res.status, res.body).toBe(403);
    const post = await send(app, 'POST', '/v1/admin/queues/turns/jobs/x/retry', { host: `rebind.evil.example:${app.port}`, origin: `http://rebind.evil.example:${app.port}`, 'content-length': '0' });
    expect(post.status, post.body).toBe(403);
  });

  it('still serves the loopback operator: no Origin, or this origin', async () => {
    const app = await start();
    for (const host of [`127.0.0.1:${app.port}`, `localhost:${app.port}`, `[::1]:${app.port}`, 'x', `console.localhost:${app.port}`]) {
      expect((await send(app, 'GET', '/v1/admin/queues', { host })).status, host).toBe(200);
    }
    const same = await send(app, 'POST', '/v1/admin/queues/turns/jobs/nope/retry', { host: `127.0.0.1:${app.port}`, origin: `http://127.0.0.1:${app.port}`, 'sec-fetch-site': 'same-origin', 'content-length': '0' });
    expect(same.status, same.body).toBe(404);
  });
});
