import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

/** A hit the fake returns, as plain text; each API gets it in its own shape. */
export interface FakeSearchHit {
  title: string;
  url: string;
  snippet?: string;
}

/** Which API a request spoke: Brave (`GET /res/v1/web/search`), SearXNG (`GET …/search`), Tavily (`POST …/search`). */
export type FakeSearchApi = 'brave' | 'searxng' | 'tavily';

/** One request the fake received. */
export interface FakeSearchCall {
  api: FakeSearchApi;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (Tavily). */
  body?: unknown;
}

/**
 * How the fake answers the next request instead of searching: an HTTP status (with an error body;
 * 429 carries `Retry-After: 7`), `garbage` (200, not JSON), `wrong-shape` (200, JSON of another
 * shape), `slow` (headers only after `slowMs`), `huge` (a 2 MiB chunked body), `redirect` (302 to
 * `/elsewhere`, which is recorded if followed), `echo-credentials` (200, the request's credential
 * header written into a hit as sent and re-encoded, as a careless proxy might).
 */
export type FakeSearchFailure = 401 | 403 | 429 | 500 | 503 | 'garbage' | 'wrong-shape' | 'slow' | 'huge' | 'redirect' | 'echo-credentials';

export interface FakeSearchOptions {
  /** The Brave subscription token accepted in `X-Subscription-Token` (default `brave-test-key`). */
  braveKey?: string;
  /** The Tavily key accepted as `Authorization: Bearer` (default `tvly-test-key`). */
  tavilyKey?: string;
  /** Delay of a `slow` answer, in ms (default 2 000). */
  slowMs?: number;
}

export interface FakeSearch {
  /** Base URL for BRAVE_API_URL, SEARXNG_URL and TAVILY_API_URL. */
  origin: string;
  braveKey: string;
  tavilyKey: string;
  /** What a search returns; replace freely. */
  hits: FakeSearchHit[];
  /** Every request, in arrival order, failed ones included. */
  calls: FakeSearchCall[];
  /** Answers the next `n` requests (any API) with `failure`. */
  failNext(failure: FakeSearchFailure, n?: number): void;
  close(): Promise<void>;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Brave's description: HTML-escaped, with the query's words wrapped in `<strong>` (its default text decorations). */
function braveDescription(snippet: string, query: string): string {
  const words = query.split(/\s+/).filter((w) => /^\w+$/.test(w));
  const escaped = escapeHtml(snippet);
  return words.length === 0 ? escaped : escaped.replace(new RegExp(`\\b(${words.join('|')})\\b`, 'gi'), '<strong>$1</strong>');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function apiOf(method: string, path: string): FakeSearchApi | undefined {
  if (method === 'GET' && path.endsWith('/res/v1/web/search')) return 'brave';
  if (method === 'GET' && path.endsWith('/search')) return 'searxng';
  if (method === 'POST' && path.endsWith('/search')) return 'tavily';
  return undefined;
}

/** The credential a request carried for its API, if it is the accepted one. */
function authorized(call: FakeSearchCall, fake: Pick<FakeSearch, 'braveKey' | 'tavilyKey'>): boolean {
  if (call.api === 'brave') return call.headers['x-subscription-token'] === fake.braveKey;
  if (call.api === 'tavily') return call.headers.authorization === `Bearer ${fake.tavilyKey}`;
  return true;
}

/** A successful answer in the API's own shape. */
function answer(call: FakeSearchCall, hits: FakeSearchHit[]): unknown {
  const q = call.api === 'tavily' ? String((call.body as { query?: unknown } | undefined)?.query ?? '') : (call.query.q ?? '');
  if (call.api === 'brave') {
    const count = Math.min(Number(call.query.count ?? 20) || 20, 20);
    const results = hits.slice(0, count).map((h) => ({ type: 'search_result', title: h.title, url: h.url, ...(h.snippet !== undefined ? { description: braveDescription(h.snippet, q) } : {}), language: 'en' }));
    return { type: 'search', query: { original: q }, ...(results.length > 0 ? { web: { type: 'search', results } } : {}) };
  }
  if (call.api === 'searxng') {
    return { query: q, number_of_results: 0, results: hits.map((h) => ({ title: h.title, url: h.url, content: h.snippet ?? '', engine: 'fake', score: 1 })), answers: [], suggestions: [], unresponsive_engines: [] };
  }
  const max = Number((call.body as { max_results?: unknown } | undefined)?.max_results ?? 5);
  return { query: q, results: hits.slice(0, max).map((h) => ({ title: h.title, url: h.url, content: h.snippet ?? '', score: 0.9 })), response_time: 0.01 };
}

/**
 * The hit of an `echo-credentials` answer: the credential header as sent, URL-encoded in a link,
 * base64-encoded, and (for Basic auth) decoded.
 */
function echoedCredentials(sent: string) {
  const basic = /^Basic (.+)$/.exec(sent)?.[1];
  const decoded = basic ? `; decoded ${Buffer.from(basic, 'base64').toString('utf8')}` : '';
  return [{ title: 'Echo', url: `https://echo.example/?h=${encodeURIComponent(sent)}`, snippet: `you sent ${sent}; encoded ${Buffer.from(sent).toString('base64')}${decoded}` }];
}

/** Writes a scripted failure (`echo-credentials` is answered by the caller, as a search). */
function fail(res: ServerResponse, failure: FakeSearchFailure, slowMs: number, origin: string): void {
  if (typeof failure === 'number') {
    sendJson(res, failure, { type: 'ErrorResponse', error: { status: failure, detail: `fake failure ${failure}` } }, failure === 429 ? { 'retry-after': '7' } : {});
  } else if (failure === 'garbage') {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Bad gateway, but 200</body></html>');
  } else if (failure === 'wrong-shape') {
    sendJson(res, 200, { web: { results: 'none' }, results: [{ href: 'https://x.example/' }] });
  } else if (failure === 'slow') {
    setTimeout(() => sendJson(res, 200, { results: [] }), slowMs).unref();
  } else if (failure === 'huge') {
    // Chunked, without Content-Length: the client can only notice the size while reading.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"results":[],"pad":"');
    for (let i = 0; i < 32; i++) res.write('x'.repeat(64 * 1024));
    res.end('"}');
  } else if (failure === 'redirect') {
    res.writeHead(302, { location: `${origin}/elsewhere` }).end();
  }
}

/**
 * A loopback double of the Brave Search API, a SearXNG instance and the Tavily API on one port,
 * speaking their JSON: it checks the credential header (401 otherwise, as the real APIs do),
 * `format=json` (403 otherwise, as a SearXNG instance without the JSON format does) and the query.
 */
export async function startFakeSearch(opts: FakeSearchOptions = {}): Promise<FakeSearch> {
  const failures: FakeSearchFailure[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = req.method === 'POST' ? await readBody(req) : '';
      const api = apiOf(req.method ?? 'GET', url.pathname);
      const call: FakeSearchCall = {
        api: api ?? 'searxng',
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        ...(raw ? { body: JSON.parse(raw) as unknown } : {}),
      };
      fake.calls.push(call);
      if (!api) return sendJson(res, 404, { error: 'not found' });
      const failure = failures.shift();
      if (failure !== undefined && failure !== 'echo-credentials') return fail(res, failure, opts.slowMs ?? 2_000, fake.origin);
      if (!authorized(call, fake)) return sendJson(res, 401, { type: 'ErrorResponse', error: { code: 'SUBSCRIPTION_TOKEN_INVALID', status: 401 } });
      if (api === 'searxng' && call.query.format !== 'json') return void res.writeHead(403).end('Forbidden');
      const query = api === 'tavily' ? (call.body as { query?: unknown } | undefined)?.query : call.query.q;
      if (typeof query !== 'string' || query === '') return sendJson(res, 422, { error: 'q is required' });
      const hits = failure === 'echo-credentials'
        ? echoedCredentials(String(req.headers['x-subscription-token'] ?? req.headers.authorization ?? ''))
        : fake.hits;
      sendJson(res, 200, answer(call, hits));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const fake: FakeSearch = {
    origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    braveKey: opts.braveKey ?? 'brave-test-key',
    tavilyKey: opts.tavilyKey ?? 'tvly-test-key',
    hits: [],
    calls: [],
    failNext: (failure, n = 1) => void failures.push(...Array<FakeSearchFailure>(n).fill(failure)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
