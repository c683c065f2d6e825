import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, startFakeSearch, type FakeSearchFailure } from '@switchboard/testkit';
import { runTool } from '../run-tool.ts';
import { ToolError } from './tool-error.ts';
import { createWebSearchTool, type WebSearchProvider } from './web-search.ts';
import { createBraveSearchProvider, createSearxngSearchProvider, createTavilySearchProvider, type WebSearchHttpOptions } from './web-search-providers.ts';

// Real HTTP against a loopback double of each API; nothing here reaches the internet.
const fake = await startFakeSearch({ braveKey: 'BSA-brave-secret-0123456789', tavilyKey: 'tvly-secret-0123456789', slowMs: 5_000 });
afterAll(() => fake.close());

const HITS = [
  { title: 'Switchboard docs', url: 'https://docs.example/switchboard', snippet: 'Queue-backed assistant gateway & more about switchboard' },
  { title: 'Second hit', url: 'https://two.example/' },
  { title: 'Third hit', url: 'https://three.example/', snippet: 'third' },
];

beforeEach(() => {
  fake.hits = HITS;
  fake.calls.length = 0;
});

const job = (args: Record<string, unknown>) => ({ v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey: 's', platform: 'web', userId: 'u', tool: 'web_search', arguments: args });
const run = (provider: WebSearchProvider, args: Record<string, unknown>) => runTool(createWebSearchTool(provider), job(args), { maxOutputBytes: 8192 });

const brave = (opts: WebSearchHttpOptions = {}, apiKey = fake.braveKey) => createBraveSearchProvider({ apiKey, baseUrl: fake.origin }, opts);
const searxng = (opts: WebSearchHttpOptions = {}) => createSearxngSearchProvider({ baseUrl: `${fake.origin}/searx/` }, opts);
const tavily = (opts: WebSearchHttpOptions = {}) => createTavilySearchProvider({ apiKey: fake.tavilyKey, baseUrl: fake.origin }, opts);

/** The ToolError a direct search throws (to see `retryable`, which a run result does not carry). */
async function searchError(provider: WebSearchProvider): Promise<ToolError> {
  const err = await provider.search('switchboard', { count: 3, signal: new AbortController().signal }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ToolError)) throw new Error(`expected a ToolError, got ${String(err)}`);
  return err;
}

describe('web_search providers over HTTP', () => {
  it('Brave: sends the key as X-Subscription-Token and returns plain-text hits', async () => {
    const result = await run(brave(), { query: 'switchboard gateway', count: 2 });
    expect(result).toMatchObject({ ok: true });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ api: 'brave', method: 'GET', path: '/res/v1/web/search', query: { q: 'switchboard gateway', count: '2' } });
    expect(fake.calls[0]!.headers['x-subscription-token']).toBe(fake.braveKey);
    expect(result.output).toContain('<untrusted source="web_search" provider="brave" query="switchboard gateway">');
    // Brave sent `Queue-backed assistant <strong>gateway</strong> &amp; more about <strong>switchboard</strong>`.
    expect(result.output).toContain('1. Switchboard docs\n   https://docs.example/switchboard\n   Queue-backed assistant gateway & more about switchboard');
    expect(result.output).toContain('2. Second hit\n   https://two.example/');
    expect(result.output).not.toMatch(/<strong>|&amp;|Third hit/);
    expect(result.output).not.toContain(fake.braveKey);
  });

  it('SearXNG: asks <base>/search with format=json under the base path and cuts the page to count', async () => {
    const result = await run(searxng(), { query: 'switchboard', count: 2 });
    expect(result).toMatchObject({ ok: true });
    expect(fake.calls[0]).toMatchObject({ api: 'searxng', path: '/searx/search', query: { q: 'switchboard', format: 'json' } });
    expect(result.output).toContain('provider="searxng"');
    expect(result.output).toContain('1. Switchboard docs\n   https://docs.example/switchboard\n   Queue-backed assistant gateway & more about switchboard');
    expect(result.output).toContain('2. Second hit\n   https://two.example/\n');
    expect(result.output).not.toContain('Third hit');
  });

  it('SearXNG: credentials in SEARXNG_URL travel as Basic auth, not in the URL', async () => {
    const withPassword = createSearxngSearchProvider({ baseUrl: fake.origin.replace('://', '://ops:pa%24%24word-0123@') });
    expect(await run(withPassword, { query: 'switchboard' })).toMatchObject({ ok: true });
    expect(fake.calls[0]!.headers.authorization).toBe(`Basic ${Buffer.from('ops:pa$$word-0123').toString('base64')}`);
  });

  it('Tavily: POSTs { query, max_results } with a Bearer key', async () => {
    const result = await run(tavily(), { query: 'switchboard', count: 3 });
    expect(result).toMatchObject({ ok: true });
    expect(fake.calls[0]).toMatchObject({ api: 'tavily', method: 'POST', path: '/search', body: { query: 'switchboard', max_results: 3 } });
    expect(fake.calls[0]!.headers.authorization).toBe(`Bearer ${fake.tavilyKey}`);
    expect(result.output).toContain('3. Third hit\n   https://three.example/\n   third');
  });

  it('never hands the key to the model, even when the remote echoes it into a hit, re-encoded or not', async () => {
    const password = 'pa$$word-0123';
    const withPassword = createSearxngSearchProvider({ baseUrl: fake.origin.replace('://', `://ops:${encodeURIComponent(password)}@`) });
    for (const [provider, key] of [[brave(), fake.braveKey], [tavily(), fake.tavilyKey], [withPassword, password]] as const) {
      fake.failNext('echo-credentials');
      const result = await run(provider, { query: 'switchboard' });
      expect(result.ok).toBe(true);
      expect(result.output).toMatch(/you sent (Bearer )?\[redacted\]; encoded \S*\[redacted\]/);
      for (const form of [key, encodeURIComponent(key), Buffer.from(key).toString('base64')]) expect(result.output).not.toContain(form);
    }
  });

  it('a refused key is a clear, non-retryable error naming the variable, not the key', async () => {
    const wrongKey = 'BSA-wrong-key-9876543210';
    const result = await run(brave({}, wrongKey), { query: 'switchboard' });
    expect(result).toMatchObject({ ok: false, errorCode: 'remote_error' });
    expect(result.output).toBe('Brave Search refused the request (HTTP 401): the API key was refused; check BRAVE_API_KEY');
    expect(result.output).not.toContain(wrongKey);
    const err = await searchError(brave({}, wrongKey));
    expect(err).toMatchObject({ code: 'remote_error', retryable: false });
    fake.failNext(401);
    expect((await run(tavily(), { query: 'x' })).output).toMatch(/Tavily refused the request \(HTTP 401\).*TAVILY_API_KEY/);
  });

  it('SearXNG 403 tells the operator to enable the JSON format', async () => {
    fake.failNext(403);
    expect((await run(searxng(), { query: 'x' })).output).toMatch(/SearXNG instance at 127\.0\.0\.1:\d+ refused the request \(HTTP 403\): enable the json format \(search\.formats/);
  });

  it('429 is a retryable rate-limit error that passes on Retry-After', async () => {
    fake.failNext(429);
    const result = await run(brave(), { query: 'x' });
    expect(result).toMatchObject({ ok: false, errorCode: 'remote_error', output: 'Brave Search rate-limited the search (HTTP 429); try again in 7 s' });
    fake.failNext(429);
    expect(await searchError(searxng())).toMatchObject({ code: 'remote_error', retryable: true });
  });

  it('a 5xx is a retryable remote_error', async () => {
    fake.failNext(503);
    expect(await searchError(tavily())).toMatchObject({ code: 'remote_error', retryable: true, message: 'Tavily failed (HTTP 503); try again later' });
  });

  it('a body that is not JSON, or not the API shape, is a remote_error', async () => {
    fake.failNext('garbage');
    expect(await run(brave(), { query: 'x' })).toMatchObject({ ok: false, errorCode: 'remote_error', output: 'Brave Search answered with something that is not JSON' });
    for (const provider of [brave(), searxng(), tavily()]) {
      fake.failNext('wrong-shape');
      expect(await run(provider, { query: 'x' })).toMatchObject({ ok: false, errorCode: 'remote_error', output: expect.stringMatching(/answered in an unexpected shape$/) });
    }
  });

  it('stops reading an answer past maxBytes', async () => {
    fake.failNext('huge');
    const result = await run(searxng(), { query: 'x' });
    expect(result).toMatchObject({ ok: false, errorCode: 'remote_error', output: expect.stringMatching(/answered more than 1048576 bytes/) });
    fake.failNext('huge');
    expect(await run(searxng({ maxBytes: 4 * 1024 * 1024 }), { query: 'x' })).toMatchObject({ ok: true, output: expect.stringContaining('No results.') });
  });

  it('gives up after timeoutMs with a retryable timeout', async () => {
    fake.failNext('slow');
    const started = performance.now();
    const err = await searchError(brave({ timeoutMs: 200 }));
    expect(err).toMatchObject({ code: 'timeout', retryable: true, message: 'Brave Search did not answer within 200 ms' });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('does not follow a redirect (the key header would go along)', async () => {
    fake.failNext('redirect');
    expect(await run(brave(), { query: 'x' })).toMatchObject({ ok: false, errorCode: 'remote_error', output: expect.stringMatching(/redirect \(HTTP 302\)/) });
    expect(fake.calls.map((c) => c.path)).toEqual(['/res/v1/web/search']);
  });

  it('an unreachable host is remote_unreachable, retryable', async () => {
    const port = await freePort();
    const err = await searchError(createBraveSearchProvider({ apiKey: fake.braveKey, baseUrl: `http://127.0.0.1:${port}` }));
    expect(err).toMatchObject({ code: 'remote_unreachable', retryable: true, message: 'Brave Search could not be reached (ECONNREFUSED)' });
  });

  it('every failure text leaves the key out', async () => {
    const failures: FakeSearchFailure[] = [401, 429, 500, 'garbage', 'wrong-shape', 'redirect'];
    for (const failure of failures) {
      fake.failNext(failure);
      const result = await run(brave(), { query: 'x' });
      expect(result.ok, String(failure)).toBe(false);
      expect(result.output, String(failure)).not.toContain(fake.braveKey);
    }
  });
});
