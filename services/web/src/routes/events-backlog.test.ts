/**
 * Before the fix, `GET /v1/sessions/{id}/events` wrote every event of the
 * session with `res.write()` and never looked at its return value or `res.writableLength`; the
 * server has no socket timeout (`requestTimeout = 0`, no `server.timeout`). A client that keeps the
 * connection open but stops reading (a phone app in the background, a stuck proxy, a hostile
 * client) makes the web process buffer every later event of that session in memory, without any
 * bound, for as long as the TCP connection lives. The stream is resumable (`Last-Event-ID`), so a
 * client that fell behind can simply be disconnected.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { waitFor } from '@switchboard/testkit';
import { startTestWebApp } from '../test-support/web-app.ts';
import { webSessionKey } from '../web-session.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startApp() {
  const app = await startTestWebApp(inject('redisUrl'));
  cleanups.push(app.close);
  const serverSockets: Socket[] = [];
  app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
  return { ...app, serverSockets };
}

describe('SSE events: a client that stops reading', () => {
  it('does not buffer an unbounded backlog in the web process for a client that does not read', async () => {
    const app = await startApp();
    const client = connect(app.port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('GET /v1/sessions/stalled/events HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => client.once('data', resolve)); // the head and `retry:` are out
    client.pause(); // from now on the client reads nothing (the connection stays open)
    await waitFor(() => app.hub.size === 1, { message: 'the SSE subscription' });

    const key = webSessionKey('local', 'stalled');
    const chunk = 'x'.repeat(1024 * 1024); // 1 MiB per event (a long streamed answer arrives as many such deltas)
    const EVENTS = 48;
    for (let i = 0; i < EVENTS; i++) await app.store.appendEvent(key, { type: 'delta', turnId: 't1', text: chunk });

    const server = () => app.serverSockets.find((s) => !s.destroyed);
    let buffered = 0;
    // Wait until the hub has handed every event to the route (the kernel's socket buffers take a few MiB at most).
    await waitFor(() => {
      buffered = server()?.writableLength ?? 0;
      return buffered > 32 * 1024 * 1024 || server() === undefined;
    }, { timeoutMs: 20_000 }).catch(() => undefined);
    const MiB = Math.round(buffered / 1024 / 1024);
    // Before the fix ~40+ MiB sit in the server socket's write buffer (one more MiB per event) and the connection stays open.
    expect(MiB, `${MiB} MiB of ${EVENTS} MiB of events buffered in the web process for a client that reads nothing`).toBeLessThanOrEqual(8);
    expect(server(), 'the stalled SSE connection is still open').toBeUndefined();
  });
});
