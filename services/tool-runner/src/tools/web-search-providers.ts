import { z } from 'zod';
import { htmlToText } from './net/html-text.ts';
import { secretRedactor } from './secret-redaction.ts';
import { ToolError } from './tool-error.ts';
import { searchJson } from './web-search-http.ts';
import type { WebSearchProvider, WebSearchResult } from './web-search.ts';

/** A search backend chosen by configuration (WEB_SEARCH_PROVIDER and its variables; see config.ts). */
export type WebSearchSettings =
  | { provider: 'brave'; apiKey: string; baseUrl: string }
  | { provider: 'searxng'; baseUrl: string }
  | { provider: 'tavily'; apiKey: string; baseUrl: string };

/** Limits of the providers' HTTP calls. */
export interface WebSearchHttpOptions {
  /** Deadline of one search request, in ms (default 15 000: inside web_search's own 20 s limit, so this clearer error wins). */
  timeoutMs?: number;
  /** Response bytes read at most (default 1 MiB); a hostile or broken server cannot make the runner buffer more. */
  maxBytes?: number;
}

const DEFAULTS = { timeoutMs: 15_000, maxBytes: 1024 * 1024 };

/** `base` with `path` appended to its own path, so a base under a prefix (`https://host/searx`) keeps it. */
function endpoint(base: string, path: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  url.hash = '';
  return url;
}

/** Brave's descriptions are HTML (`<strong>` around matched words, escaped entities): the model gets plain text. */
function plainText(html: string): string {
  return htmlToText(html).text;
}

/** The hits with every form of each secret cut out (see {@link secretRedactor}). */
function redact(results: WebSearchResult[], secrets: readonly string[]): WebSearchResult[] {
  const scrub = secretRedactor(secrets);
  return results.map((r) => ({ title: scrub(r.title), url: scrub(r.url), ...(r.snippet !== undefined ? { snippet: scrub(r.snippet) } : {}) }));
}

/** Parses a provider's body with `schema`; a mismatch means the API (or a proxy) did not answer as expected. */
function parseBody<T>(label: string, schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ToolError('remote_error', `${label} answered in an unexpected shape`);
  return parsed.data;
}

/** Lenient: only title and url matter; a missing or null snippet is fine, unknown fields are ignored. */
const optionalText = z.string().nullish();

const BraveBody = z.object({
  // Brave leaves `web` out when it found nothing.
  web: z.object({ results: z.array(z.object({ title: z.string(), url: z.string(), description: optionalText })) }).optional(),
});

/**
 * Brave Search API: `GET <base>/res/v1/web/search?q=&count=` with `X-Subscription-Token`; hits in
 * `web.results[]` as `{ title, url, description }`.
 */
export function createBraveSearchProvider(settings: { apiKey: string; baseUrl: string }, opts: WebSearchHttpOptions = {}): WebSearchProvider {
  const label = 'Brave Search';
  return {
    name: 'brave',
    async search(query, { count, signal }) {
      const url = endpoint(settings.baseUrl, '/res/v1/web/search');
      url.searchParams.set('q', query);
      url.searchParams.set('count', String(count));
      const body = await searchJson({
        ...DEFAULTS, ...opts, label, url, signal,
        headers: { 'x-subscription-token': settings.apiKey },
        refusedHint: 'the API key was refused; check BRAVE_API_KEY',
      });
      const hits = (parseBody(label, BraveBody, body).web?.results ?? []).slice(0, count).map((r) => ({
        title: plainText(r.title),
        url: r.url,
        ...(r.description ? { snippet: plainText(r.description) } : {}),
      }));
      return redact(hits, [settings.apiKey]);
    },
  };
}

/** SearXNG's and Tavily's answers alike: hits in `results[]` as `{ title, url, content }`. */
const ResultsBody = z.object({ results: z.array(z.object({ title: optionalText, url: z.string(), content: optionalText })) });

/** The first `count` hits of a {@link ResultsBody}; a hit without a title is named by its URL. */
function resultsHits(label: string, body: unknown, count: number): WebSearchResult[] {
  return parseBody(label, ResultsBody, body).results.slice(0, count).map((r) => ({
    title: r.title || r.url,
    url: r.url,
    ...(r.content ? { snippet: r.content } : {}),
  }));
}

/** A percent-decoded URL part; one with a broken escape is used as written. */
function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * Basic credentials written into SEARXNG_URL (`https://user:pass@host`, for an instance behind a
 * password) become a header: fetch refuses URLs that carry them. Returns the header and the secrets.
 */
function basicAuth(url: URL): { headers: Record<string, string>; secrets: string[] } {
  if (!url.username && !url.password) return { headers: {}, secrets: [] };
  const password = safeDecode(url.password);
  const token = Buffer.from(`${safeDecode(url.username)}:${password}`).toString('base64');
  url.username = '';
  url.password = '';
  return { headers: { authorization: `Basic ${token}` }, secrets: [`Basic ${token}`] };
}

/**
 * A SearXNG instance: `GET <base>/search?q=&format=json`; hits in `results[]` as
 * `{ title, url, content }`. The instance must list `json` under `search.formats` in its
 * settings.yml (it answers 403 otherwise). It returns a fixed page of hits; `count` cuts it.
 */
export function createSearxngSearchProvider(settings: { baseUrl: string }, opts: WebSearchHttpOptions = {}): WebSearchProvider {
  const label = `the SearXNG instance at ${new URL(settings.baseUrl).host}`;
  return {
    name: 'searxng',
    async search(query, { count, signal }) {
      const url = endpoint(settings.baseUrl, '/search');
      const { headers, secrets } = basicAuth(url);
      url.searchParams.set('q', query);
      url.searchParams.set('format', 'json');
      const body = await searchJson({
        ...DEFAULTS, ...opts, label, url, signal, headers,
        refusedHint: 'enable the json format (search.formats in its settings.yml), and check any credentials in SEARXNG_URL',
      });
      return redact(resultsHits(label, body, count), secrets);
    },
  };
}

/**
 * Tavily: `POST <base>/search` with `Authorization: Bearer <key>` and `{ query, max_results }`;
 * hits in `results[]` as `{ title, url, content }`.
 */
export function createTavilySearchProvider(settings: { apiKey: string; baseUrl: string }, opts: WebSearchHttpOptions = {}): WebSearchProvider {
  const label = 'Tavily';
  return {
    name: 'tavily',
    async search(query, { count, signal }) {
      const body = await searchJson({
        ...DEFAULTS, ...opts, label, signal,
        url: endpoint(settings.baseUrl, '/search'),
        method: 'POST',
        headers: { authorization: `Bearer ${settings.apiKey}` },
        body: { query, max_results: count },
        refusedHint: 'the API key was refused; check TAVILY_API_KEY',
      });
      return redact(resultsHits(label, body, count), [settings.apiKey]);
    },
  };
}

/** The provider WEB_SEARCH_PROVIDER names, built from its settings. */
export function createWebSearchProvider(settings: WebSearchSettings, opts: WebSearchHttpOptions = {}): WebSearchProvider {
  switch (settings.provider) {
    case 'brave':
      return createBraveSearchProvider(settings, opts);
    case 'searxng':
      return createSearxngSearchProvider(settings, opts);
    case 'tavily':
      return createTavilySearchProvider(settings, opts);
  }
}
