/**
 * Host-checked, size-capped file downloads for channel services: a platform's file URL (Slack's
 * file host, Discord's CDN...) is fetched only from hosts the service trusts, redirects are
 * followed by hand and each hop checked again (so credentials and requests never go where a
 * redirect points), and the size cap holds from the Content-Length and while reading.
 */

/** Whether a URL may be fetched (and given the request's headers). */
export type TrustedUrl = (url: URL) => boolean;

/**
 * Trusts `hosts` over https on the default port, and any URL on one of `origins` exactly (a proxy,
 * or a test double on loopback, as the service's configured API URL).
 */
export function trustedUrls(hosts: readonly string[], origins: readonly string[] = []): TrustedUrl {
  const hostSet = new Set(hosts.map((h) => h.toLowerCase()));
  const originSet = new Set(origins.map((o) => new URL(o).origin));
  return (url) => (url.protocol === 'https:' && hostSet.has(url.hostname) && (url.port === '' || url.port === '443')) || originSet.has(url.origin);
}

/** A failure a later attempt may fix (the host's 5xx or 429, the network, a timeout). */
export class DownloadUnavailableError extends Error {
  readonly code = 'download_unavailable';
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'DownloadUnavailableError';
  }
}

/**
 * What a download came to: the bytes, or why not. `refused`: an untrusted host, a redirect to one,
 * or too many redirects (nothing was sent there). `gone`: any other 4xx (deleted, expired link, no access).
 */
export type DownloadOutcome = { ok: true; data: Buffer; contentType: string | undefined } | { ok: false; reason: 'too_big' | 'refused' | 'gone' };

export interface DownloadOptions {
  trusted: TrustedUrl;
  /** Largest body read, in bytes: a longer one is cut off (`too_big`). */
  maxBytes: number;
  /** Sent with every request (each to a trusted URL only), e.g. a bearer token. */
  headers?: Record<string, string>;
  /** Longest wait for the whole download, in ms (default 60 s). */
  timeoutMs?: number;
  /** Redirects followed at most (default 3). */
  maxRedirects?: number;
  /** Names the file in error messages ("a slack file"); never the URL, which may be signed. */
  what?: string;
}

/**
 * Downloads `first` within the cap. Throws `DownloadUnavailableError` for a failure a retry may
 * fix; its message carries the error's name or the HTTP status only, never the URL.
 */
export async function downloadCapped(first: URL, opts: DownloadOptions): Promise<DownloadOutcome> {
  const what = opts.what ?? 'a file';
  const maxRedirects = opts.maxRedirects ?? 3;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
  let url = first;
  for (let hop = 0; ; hop++) {
    if (!opts.trusted(url)) return { ok: false, reason: 'refused' };
    let res: Response;
    try {
      // Never let fetch follow a redirect (and carry the headers) by itself: each hop is checked above.
      res = await fetch(url, { headers: opts.headers ?? {}, redirect: 'manual', signal });
    } catch (err) {
      // Only the error's name: the message of a failed fetch may carry the URL.
      throw new DownloadUnavailableError(`downloading ${what} failed: ${(err as Error).name}`);
    }
    const discard = () => res.body?.cancel().catch(() => undefined);
    if (res.status >= 300 && res.status < 400) {
      await discard();
      const location = res.headers.get('location');
      if (!location || hop >= maxRedirects) return { ok: false, reason: 'refused' };
      try {
        url = new URL(location, url);
      } catch {
        return { ok: false, reason: 'refused' };
      }
      continue;
    }
    if (res.status === 429 || res.status >= 500) {
      await discard();
      throw new DownloadUnavailableError(`downloading ${what} failed: HTTP ${res.status}`);
    }
    if (!res.ok || !res.body) {
      await discard();
      return { ok: false, reason: 'gone' };
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await discard();
      return { ok: false, reason: 'too_big' };
    }
    let data: Buffer | 'too_big';
    try {
      data = await readCapped(res.body, opts.maxBytes);
    } catch (err) {
      throw new DownloadUnavailableError(`downloading ${what} failed: ${(err as Error).name}`);
    }
    if (data === 'too_big') return { ok: false, reason: 'too_big' };
    return { ok: true, data, contentType: res.headers.get('content-type') ?? undefined };
  }
}

/** Reads a response body whole, unless it grows past `maxBytes`: then the rest is cancelled and the answer is `too_big`. */
export async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Buffer | 'too_big'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      await body.cancel().catch(() => undefined);
      return 'too_big';
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** The note put into a message's text for a file over the cap (`size` when it is known). */
export function tooLargeNote(label: string, size: number | undefined, maxBytes: number): string {
  return `[${label} was not downloaded: ${size !== undefined ? `${Math.ceil(size / 1024)} KiB is ` : ''}over the ${Math.floor(maxBytes / 1024)} KiB limit]`;
}
