/**
 * Before the fix: the SSE backlog cap (MAX_SSE_BACKLOG_BYTES) is meant to cut a client that does
 * not read. But a replay (`?after=0`, or a reconnect far behind with Last-Event-ID) is written
 * page after page (500 events each) as fast as Redis answers, without waiting for the socket to
 * drain: the buffer passes 4 MiB while the client is still reading steadily, and the stream is
 * destroyed (with what was buffered). A session with tool results (16 KiB each) holds several MiB
 * of events, so a client over a link slower than the web process's Redis never gets the history.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startTestWebApp } from '../test-support/web-app.ts';
import { webSessionKey } from '../web-session.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('SSE events: a large replay to a client that reads steadily', () => {
  it('delivers every retained event without cutting the stream', async () => {
    const app = await startTestWebApp(inject('redisUrl'));
    cleanups.push(app.close);
    const key = webSessionKey('local', 'replay');
    const output = 'y'.repeat(16 * 1024); // a tool result at the tool-runner's default cap
    const EVENTS = 1200; // ~19 MiB of events
    const pipeline = app.redis.pipeline();
    for (let i = 0; i < EVENTS; i++) {
      pipeline.xadd(app.store.keys.events(key), '*', 'e', JSON.stringify({ type: 'tool_result', turnId: 't1', toolCallId: `c${i}`, tool: 'shell', ok: true, output }));
    }
    await pipeline.exec();

    const client = connect(app.port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('GET /v1/sessions/replay/events?after=0 HTTP/1.1\r\nHost: x\r\n\r\n');
    let received = 0;
    let ids = 0;
    let tail = '';
    let ended = false;
    client.on('data', (buf: Buffer) => {
      received += buf.length;
      const text = tail + buf.toString('latin1');
      const parts = text.split('\nid: ');
      ids += parts.length - 1;
      tail = parts[parts.length - 1]!.slice(-8);
    });
    client.on('close', () => (ended = true));
    // A steady reader: ~8 MiB/s (reads 50 ms of every 100 ms, at loopback speed capped by pausing).
    const started = Date.now();
    while (!ended && ids < EVENTS && Date.now() - started < 30_000) {
      const budget = received + 800 * 1024;
      client.resume();
      while (received < budget && !ended && ids < EVENTS && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 5));
      client.pause();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ended, `the stream was cut after ${ids} of ${EVENTS} events (${Math.round(received / 1024 / 1024)} MiB read)`).toBe(false);
    expect(ids).toBeGreaterThanOrEqual(EVENTS);
  });

  it('replays a small log at once, then follows the live events', async () => {
    const app = await startTestWebApp(inject('redisUrl'));
    cleanups.push(app.close);
    const key = webSessionKey('local', 'small');
    for (let i = 0; i < 3; i++) await app.store.appendEvent(key, { type: 'delta', turnId: 't1', text: `d${i}` });
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const res = await fetch(`${app.url}/v1/sessions/small/events?after=0`, { signal: stop.signal });
    const reader = res.body!.getReader();
    let text = '';
    const started = Date.now();
    const readUntil = async (n: number) => {
      while ((text.match(/^id: /gm) ?? []).length < n && Date.now() - started < 5000) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    };
    await readUntil(3);
    expect(Date.now() - started).toBeLessThan(2000);
    await app.store.appendEvent(key, { type: 'delta', turnId: 't1', text: 'live' });
    await readUntil(4);
    expect(text).toContain('"text":"live"');
  });
});
