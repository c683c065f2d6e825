/**
 * Before the fix: boundedFetch combines the transport's signal (alive as long as the transport) with
 * its own (`AbortSignal.any`) and hung an `abort` listener on the combined signal that was never
 * removed. Node keeps a composite signal with an abort listener alive (strongly, in a global set)
 * until it aborts or the listener goes: so every request (every ping, tools/list and tools/call)
 * kept its signal, and with the listener's closure the request's init (body included), for the
 * life of the connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { boundedFetch } from './bounded-fetch.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function jsonServer(): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

describe('boundedFetch: signals of finished requests', () => {
  it('does not keep the signal of each finished request alive for the transport’s lifetime', async () => {
    const url = await jsonServer();
    const seen: Array<WeakRef<AbortSignal>> = [];
    const recording: typeof fetch = (input, init) => {
      seen.push(new WeakRef(init!.signal!));
      return fetch(input, init);
    };
    const bounded = boundedFetch({ maxMessageBytes: 1 << 20, answerDeadlineMs: () => 60_000 }, recording);
    // The transport's own controller: aborted only when the transport closes.
    const transport = new AbortController();
    const N = 50;
    for (let i = 0; i < N; i++) {
      const post = await bounded(url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' }), signal: transport.signal });
      await post.json();
      const get = await bounded(url, { method: 'GET', signal: transport.signal });
      await get.text();
    }
    for (let i = 0; i < 10; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    const alive = seen.filter((r) => r.deref() !== undefined).length;
    expect(alive).toBeLessThan(5);
    transport.abort();
  });
});
