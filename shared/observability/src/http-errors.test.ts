import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonErrorHandler } from './http-errors.ts';
import { createLogger } from './logger.ts';

/** Each path raises the error a route or body parser would hand to Express' error handler. */
const errors: Record<string, { type?: string; status?: number; message?: string }> = {
  '/not-json': Object.assign(new SyntaxError('Unexpected token'), { type: 'entity.parse.failed', status: 400 }),
  '/too-large': Object.assign(new Error('request entity too large'), { type: 'entity.too.large', status: 413 }),
  '/unsupported': Object.assign(new Error('unsupported charset "UTF-7"'), { type: 'charset.unsupported', status: 415 }),
  '/boom': new Error('the database went away'),
};

const logged: Array<Record<string, unknown>> = [];
const logger = createLogger({
  service: 'test',
  level: 'error',
  destination: new Writable({
    write(chunk: Buffer, _enc, done) {
      logged.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  }),
});
const handle = jsonErrorHandler(logger);
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/mid-stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      const err = req.url === '/mid-stream/4xx' ? Object.assign(new Error('bad range'), { status: 416 }) : new Error('the stream broke');
      return handle(err, req, res, undefined);
    }
    handle(errors[req.url ?? '']!, req, res, undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('jsonErrorHandler', () => {
  it('answers a body parser error as a JSON 4xx and logs nothing', async () => {
    logged.length = 0;
    const cases: Array<[string, number, string]> = [
      ['/not-json', 400, 'request body is not valid JSON'],
      ['/too-large', 413, 'request body is too large'],
      ['/unsupported', 415, 'unsupported charset "UTF-7"'],
    ];
    for (const [path, status, message] of cases) {
      const res = await fetch(base + path);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ error: { code: 'bad_request', message, type: 'invalid_request_error' } });
    }
    expect(logged).toEqual([]);
  });

  it('answers anything else 500 without its message, and logs it', async () => {
    logged.length = 0;
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'handler_error', message: 'internal error', type: 'server_error' } });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: 'request handler failed', path: '/boom', err: { message: 'the database went away' } });
  });

  it('ends a response already under way (and logs the error) instead of leaving the client waiting, whatever the error', async () => {
    for (const path of ['/mid-stream', '/mid-stream/4xx']) {
      logged.length = 0;
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('data: one\n\n');
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ msg: 'request handler failed after its response started', path });
    }
  });

  it('has the four parameters by which Express tells an error handler from a route', () => {
    expect(handle).toHaveLength(4);
  });
});
