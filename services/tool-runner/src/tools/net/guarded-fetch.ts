import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { ToolError } from '../tool-error.ts';
import { publicAddressesOnly, type AddressPolicy } from './ip-policy.ts';

/** Resolves a host name to all its addresses (default: the system resolver, `dns.lookup` with `all`). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export interface GuardedFetchOptions {
  /** Which resolved addresses may be connected to (default: public unicast only). */
  policy?: AddressPolicy;
  resolver?: Resolver;
  /** Body bytes kept after decompression; reading stops there (default 2 MiB). */
  maxBytes?: number;
  /** Deadline for the whole fetch, redirects included, in ms (default 15 000). */
  timeoutMs?: number;
  /** Redirects followed, each one checked like the first request (default 5; 0: return the 3xx). */
  maxRedirects?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
}

export interface GuardedResponse {
  /** The URL that answered, after redirects. */
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the body was cut at `maxBytes`. */
  truncated: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const defaultResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/**
 * Parses and checks a URL: http or https only, no credentials in it. The WHATWG parser
 * canonicalises every IPv4 spelling (2130706433, 0177.0.0.1, 0x7f.1, 127.1 → 127.0.0.1) and
 * IPv6 literal, so the address check below sees the host the socket would reach.
 */
export function parseFetchUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ToolError('invalid_url', `not a valid absolute URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolError('invalid_url', `only http and https URLs are allowed (got ${url.protocol})`);
  if (url.username || url.password) throw new ToolError('invalid_url', 'URLs with credentials are not allowed');
  return url;
}

/** The address to connect to for `url`, after resolving and checking every address the name has. */
export async function resolveAllowed(url: URL, policy: AddressPolicy, resolver: Resolver): Promise<string> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await resolver(host)).map((a) => a.address);
    } catch (err) {
      throw new ToolError('remote_unreachable', `could not resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { retryable: true, cause: err });
    }
    if (addresses.length === 0) throw new ToolError('remote_unreachable', `${host} has no addresses`, { retryable: true });
  }
  // Every address must pass: a name with one public and one private record is refused outright,
  // rather than trusting which record the connection would have used.
  for (const address of addresses) {
    const verdict = policy(address, port);
    if (!verdict.allowed) {
      const shown = address === host ? address : `${host} (${address})`;
      throw new ToolError('blocked_address', `refusing to connect to ${shown}: ${verdict.category.replace('_', '-')} addresses are not reachable from this tool`);
    }
  }
  return addresses[0]!;
}

function send(url: URL, address: string, opts: GuardedFetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
  const isHttps = url.protocol === 'https:';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = (isHttps ? httpsRequest : httpRequest)({
      // The checked address itself: no second lookup that DNS rebinding could answer differently.
      host: address,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: opts.method ?? 'GET',
      headers: { host: url.host, ...opts.headers },
      // TLS: SNI and certificate checks against the name, not the pinned address.
      ...(isHttps && !isIP(hostname) ? { servername: hostname } : {}),
      agent: false,
      signal,
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function readCapped(res: IncomingMessage, maxBytes: number): Promise<{ body: Buffer; truncated: boolean }> {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
  // pipeline, not pipe: a response cut off (the deadline, the caller's abort) ends the decoder
  // with an error too, instead of leaving it waiting for input that never comes.
  const stream: Readable = decoder ? pipeline(res, decoder, () => undefined) : res;
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    // Counting decompressed bytes: a small compressed body cannot inflate past the cap.
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      if (size + buf.length > maxBytes) {
        chunks.push(buf.subarray(0, maxBytes - size));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(buf);
      size += buf.length;
    }
  } catch (err) {
    if (chunks.length === 0) throw err;
    truncated = true;
  } finally {
    res.destroy();
    if (stream !== res) stream.destroy();
  }
  return { body: Buffer.concat(chunks, size), truncated };
}

function networkError(err: unknown, url: URL, deadline: AbortSignal, outer: AbortSignal | undefined, timeoutMs: number): ToolError {
  if (err instanceof ToolError) return err;
  if (deadline.aborted && !outer?.aborted) return new ToolError('timeout', `fetching ${url.origin} took longer than ${timeoutMs} ms`, { retryable: true, cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  return new ToolError('remote_unreachable', `could not fetch ${url.origin}: ${code ?? (err as Error).message}`, { retryable: true, cause: err });
}

/**
 * An HTTP(S) request that cannot be pointed at the runner's own network: each hop's host is
 * resolved here, every address checked against the policy, and the socket connected to the
 * checked address. Redirects are followed by hand, each re-checked, at most `maxRedirects`.
 */
export async function guardedFetch(rawUrl: string, opts: GuardedFetchOptions = {}): Promise<GuardedResponse> {
  const policy = opts.policy ?? publicAddressesOnly;
  const resolver = opts.resolver ?? defaultResolver;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const maxRedirects = opts.maxRedirects ?? 5;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  let url = parseFetchUrl(rawUrl);
  let method = opts.method ?? 'GET';
  let body = opts.body;
  for (let hop = 0; ; hop++) {
    try {
      signal.throwIfAborted();
      const address = await Promise.race([
        resolveAllowed(url, policy, resolver),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
      ]);
      const res = await send(url, address, { ...opts, method, body }, signal);
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode ?? 0) && location && maxRedirects > 0) {
        res.destroy();
        if (hop >= maxRedirects) throw new ToolError('redirect_limit', `more than ${maxRedirects} redirects, stopped at ${url.href}`);
        url = parseFetchUrl(new URL(location, url).href);
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const { body: content, truncated } = await readCapped(res, opts.maxBytes ?? 2 * 1024 * 1024);
      return { url: url.href, status: res.statusCode ?? 0, headers: res.headers, body: content, truncated };
    } catch (err) {
      throw networkError(err, url, deadline, opts.signal, timeoutMs);
    }
  }
}
