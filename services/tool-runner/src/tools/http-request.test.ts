import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolPlugin } from '@switchboard/tools';
import { loadToolRunnerConfig } from '../config.ts';
import { runTool } from '../run-tool.ts';
import { createHttpRequestTool } from './http-request.ts';
import { redactSecrets, secretNeedles } from './secret-redaction.ts';
import { publicAddressesOnly, type AddressPolicy } from './net/ip-policy.ts';

const SECRET = 'sk-test-0123456789abcdef';
let server: Server;
let port = 0;
const seen: IncomingMessage[] = [];
let tool: ToolPlugin;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    if (req.url === '/redirect') return void res.writeHead(302, { location: 'https://elsewhere.example/steal' }).end();
    if (req.url === '/echo-encoded') {
      // A debugging endpoint that shows the header re-encoded.
      const auth = String(req.headers.authorization);
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(`b64=${Buffer.from(auth).toString('base64')} url=${encodeURIComponent(auth)} token64=${Buffer.from(auth.split(' ')[1]!).toString('base64url')}`);
    }
    // Echoes the request headers, as some debugging endpoints do.
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, headers: req.headers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  const policy: AddressPolicy = (address, p) => (address === '127.0.0.1' && p === port ? { allowed: true, category: 'loopback' } : publicAddressesOnly(address, p));
  tool = createHttpRequestTool({
    allowedHosts: [`api.test:${port}`],
    credentials: { [`api.test:${port}`]: { Authorization: `Bearer ${SECRET}` } },
    policy,
    resolver: async (host) => (host === 'api.test' ? [{ address: '127.0.0.1', family: 4 }] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }))),
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const call = (args: Record<string, unknown>) =>
  runTool(tool, { v: 1, turnId: 't', toolCallId: 'c', sessionKey: 's', platform: 'web', userId: 'u', tool: 'http_request', arguments: args }, { maxOutputBytes: 16_384 });

describe('http_request', () => {
  it('adds the configured credentials, and never shows them to the model', async () => {
    const result = await call({ method: 'POST', url: `http://api.test:${port}/v1/items`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(result.ok).toBe(true);
    expect(seen.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(result.output).toContain('HTTP status: 200');
    expect(result.output).toContain('"authorization":"[redacted]"');
    expect(result.output).not.toContain(SECRET);
    expect(tool.description).not.toContain(SECRET);
  });

  it('redacts credentials a server echoes re-encoded (base64, base64url, URL-encoded), and a Basic password decoded', async () => {
    const result = await call({ method: 'GET', url: `http://api.test:${port}/echo-encoded` });
    expect(result.ok).toBe(true);
    expect(result.output).toContain('b64=[redacted] url=[redacted] token64=[redacted]');
    // Inside a longer encoded blob (a JSON echo of the request, base64'd), at every byte offset.
    const token = 'sk-live-0123456789abcdefghij';
    const needles = secretNeedles([`Bearer ${token}`]);
    for (const prefix of ['', 'a', 'ab', 'abc', 'abcd']) {
      for (const encoding of ['base64', 'base64url'] as const) {
        const blob = Buffer.from(`${prefix}{"authorization":"Bearer ${token}","host":"x"}`).toString(encoding);
        let redacted = blob;
        for (const n of needles) redacted = redacted.split(n).join('[redacted]');
        expect(redacted, `${encoding} after ${prefix.length} bytes`).toContain('[redacted]');
        // What is left decodes to no long run of the token.
        const left = redacted.split('[redacted]').map((s) => Buffer.from(s, encoding).toString('latin1')).join('');
        expect(left).not.toContain(token.slice(3, 13));
      }
    }
    expect(secretNeedles(['Basic ' + Buffer.from('alice:correct-horse-battery').toString('base64')])).toEqual(
      expect.arrayContaining(['alice:correct-horse-battery', 'correct-horse-battery', Buffer.from('correct-horse-battery').toString('base64')]),
    );
    // A password may hold colons: it is everything after the first one, cut whole.
    const colons = secretNeedles(['Basic ' + Buffer.from('bob:ab:cdefghijkl').toString('base64')]);
    expect(colons).toContain('ab:cdefghijkl');
    expect(redactSecrets('leaked ab:cdefghijkl and ab%3Acdefghijkl', ['Basic ' + Buffer.from('bob:ab:cdefghijkl').toString('base64')])).toBe('leaked [redacted] and [redacted]');
  });

  it('sends credentials named by host alone only over https to port 443, never in clear text or to another port', async () => {
    const byHost = createHttpRequestTool({
      allowedHosts: ['api.test'],
      credentials: { 'api.test': { Authorization: `Bearer ${SECRET}` } },
      policy: (address, p) => (address === '127.0.0.1' && p === port ? { allowed: true, category: 'loopback' } : publicAddressesOnly(address, p)),
      resolver: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    const job = { v: 1 as const, turnId: 't', toolCallId: 'c2', sessionKey: 's', platform: 'web', userId: 'u', tool: 'http_request', arguments: { method: 'GET', url: `http://api.test:${port}/` } };
    const result = await runTool(byHost, job, { maxOutputBytes: 16_384 });
    expect(result.ok).toBe(true);
    expect(seen.at(-1)?.headers.authorization).toBeUndefined();
  });

  it('only calls approved hosts and ports', async () => {
    const before = seen.length;
    expect(await call({ method: 'GET', url: `http://127.0.0.1:${port}/` })).toMatchObject({ ok: false, errorCode: 'host_not_allowed' });
    expect(await call({ method: 'GET', url: 'http://api.test:1/' })).toMatchObject({ ok: false, errorCode: 'host_not_allowed' });
    expect(await call({ method: 'GET', url: 'https://evil.example/' })).toMatchObject({ ok: false, errorCode: 'host_not_allowed' });
    expect(seen.length).toBe(before);
  });

  it('does not let the model set credential or routing headers', async () => {
    for (const name of ['Authorization', 'cookie', 'Host', 'X-Api-Key']) {
      expect(await call({ method: 'GET', url: `http://api.test:${port}/`, headers: { [name]: 'x' } }), name).toMatchObject({ ok: false, errorCode: 'invalid_url' });
    }
    // Not a header at all: the model's mistake, said so, not a host that seemed to fail.
    for (const headers of [{ 'bad name': 'x' }, { 'x-ok': 'nul\u0000' }, { 'x-emoji': '\u{1F600}' }, { 'x:y': 'z' }]) {
      const result = await call({ method: 'GET', url: `http://api.test:${port}/`, headers });
      expect(result, JSON.stringify(headers)).toMatchObject({ ok: false, errorCode: 'invalid_url' });
    }
  });

  it('returns redirects instead of following them, so credentials stay with the approved host', async () => {
    const result = await call({ method: 'GET', url: `http://api.test:${port}/redirect` });
    expect(result.output).toContain('HTTP status: 302');
    expect(result.output).toContain('location: https://elsewhere.example/steal');
  });

  it('reads allowed hosts and credentials from config without ever echoing a bad value', () => {
    const config = loadToolRunnerConfig({ HTTP_REQUEST_ALLOWED_HOSTS: 'API.example.com, other.test:8443', HTTP_REQUEST_CREDENTIALS: '{"api.example.com":{"Authorization":"Bearer x"}}' });
    expect(config.HTTP_REQUEST_ALLOWED_HOSTS).toEqual(['api.example.com', 'other.test:8443']);
    expect(config.HTTP_REQUEST_CREDENTIALS).toEqual({ 'api.example.com': { Authorization: 'Bearer x' } });
    expect(loadToolRunnerConfig({}).HTTP_REQUEST_CREDENTIALS).toEqual({});
    expect(() => loadToolRunnerConfig({ HTTP_REQUEST_CREDENTIALS: '{"broken": "sk-live-secret' })).toThrow(/HTTP_REQUEST_CREDENTIALS/);
    try {
      loadToolRunnerConfig({ HTTP_REQUEST_CREDENTIALS: '{"broken": "sk-live-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('sk-live-secret');
    }
  });
});
