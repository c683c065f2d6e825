import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch, NODE_BODY_HEADER, nodeBody } from './http-fetch.ts';

let server: Server;
let base: string;
let connections = 0;
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/gzip') {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' }).end(gzipSync('unzipped text'));
      } else if (req.url === '/fail') {
        res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'slow down' } }));
      } else if (req.url === '/moved') {
        res.writeHead(307, { location: '/echo' }).end();
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        setTimeout(() => res.end('data: two\n\n'), 20);
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        setTimeout(() => res.destroy(), 20);
      } else {
        res.writeHead(201, [['x-a', '1'], ['x-a', '2'], ['content-type', 'application/json']]).end(JSON.stringify({ echo: Buffer.concat(chunks).toString() }));
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('createHttpFetch', () => {
  const httpFetch = createHttpFetch();

  it('sends method, headers and body, and answers with status, repeated headers and body', async () => {
    const res = await httpFetch(`${base}/echo`, { method: 'POST', headers: new Headers({ authorization: 'Bearer k', 'content-type': 'application/json' }), body: '{"a":1}' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-a')).toBe('1, 2');
    expect(await res.json()).toEqual({ echo: '{"a":1}' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/echo', headers: { authorization: 'Bearer k', 'content-type': 'application/json', 'content-length': '7' } });
    expect(seen.at(-1)!.headers['transfer-encoding']).toBeUndefined(); // some model servers refuse chunked requests
    expect(await (await httpFetch(`${base}/echo`, { method: 'POST', body: '"héllo ✓"' })).json()).toEqual({ echo: '"héllo ✓"' });
    expect(seen.at(-1)!.headers['content-length']).toBe(String(Buffer.byteLength('"héllo ✓"')));
  });

  it('streams the body as it arrives', async () => {
    const res = await httpFetch(`${base}/stream`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('data: one\n\n');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    expect(rest).toBe('data: two\n\n');
  });

  it('decodes a compressed body', async () => {
    expect(await (await httpFetch(`${base}/gzip`)).text()).toBe('unzipped text');
    const res = await httpFetch(`${base}/gzip`, { headers: { [NODE_BODY_HEADER]: '1' } });
    expect((await nodeBody(res)!.toArray()).join('')).toBe('unzipped text');
  });

  it('leaves a 2xx body as a Node stream when asked, without sending the header', async () => {
    const res = await httpFetch(`${base}/stream`, { headers: { [NODE_BODY_HEADER]: '1' } });
    expect(seen.at(-1)!.headers[NODE_BODY_HEADER]).toBeUndefined();
    expect(res.body).toBeNull();
    const body = nodeBody(res)!;
    expect((await body.toArray()).map(String)).toEqual(['data: one\n\n', 'data: two\n\n']);
    // Not asked, or not a 2xx: a WHATWG body as before (an error status's body is read by the SDK).
    expect(nodeBody(await httpFetch(`${base}/stream`))).toBeUndefined();
    const failed = await httpFetch(`${base}/fail`, { headers: { [NODE_BODY_HEADER]: '1' } });
    expect(failed.status).toBe(429);
    expect(nodeBody(failed)).toBeUndefined();
    expect(await failed.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('leaves redirects to the global fetch, which follows them', async () => {
    const res = await httpFetch(`${base}/moved`, { method: 'POST', body: 'again' });
    expect(await res.json()).toEqual({ echo: 'again' });
    expect(seen.slice(-3).map((s) => s.url)).toEqual(['/moved', '/moved', '/echo']);
    await httpFetch(`${base}/moved`, { method: 'POST', headers: { [NODE_BODY_HEADER]: '1' }, body: 'again' });
    expect(seen.slice(-3).map((s) => [s.url, s.headers[NODE_BODY_HEADER]])).toEqual([['/moved', undefined], ['/moved', undefined], ['/echo', undefined]]);
  });

  it('fails the body with a transport error code when the connection drops mid-stream', async () => {
    const res = await httpFetch(`${base}/cut`);
    const err = await res.text().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('ECONNRESET');
  });

  it('rejects with an AbortError when aborted, before or during the request', async () => {
    await expect(httpFetch(`${base}/echo`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    const res = await httpFetch(`${base}/stream`, { signal: controller.signal });
    controller.abort();
    await expect(res.text()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('keeps every connection of a wave of 300 calls for the next wave', async () => {
    const fresh = createHttpFetch();
    const before = connections;
    await Promise.all(Array.from({ length: 300 }, async () => (await fresh(`${base}/stream`)).text()));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the sockets go back to the pool
    await Promise.all(Array.from({ length: 300 }, async () => (await fresh(`${base}/stream`)).text()));
    expect(connections - before).toBe(300);
  });

  it('reports a refused connection with its code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(httpFetch(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
