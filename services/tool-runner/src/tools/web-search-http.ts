import { ToolError } from './tool-error.ts';

/**
 * One call to a search API. The URL is operator configuration (WEB_SEARCH_PROVIDER and its
 * variables), never chosen by the model, so it does not go through web_fetch's SSRF guard: an
 * operator may well run SearXNG on a private address. Whatever the model opens afterwards with
 * web_fetch is checked there.
 */
export interface SearchRequest {
  /** Who is called, for messages: "Brave Search", "the SearXNG instance at search.internal". */
  label: string;
  url: URL;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** JSON request body (POST). */
  body?: unknown;
  /** The run's signal: aborted when the tool run times out or the runner stops. */
  signal: AbortSignal;
  /** Deadline of the request including reading the body, in ms. */
  timeoutMs: number;
  /** Response bytes read at most (after decompression); a longer answer is refused. */
  maxBytes: number;
  /** What a 401/403 means for this provider, written for the model and the operator (e.g. "the API key was refused"). */
  refusedHint: string;
}

/** The system error code under a failed fetch (`ECONNREFUSED`, `ENOTFOUND`...), or a generic phrase. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}

/** Seconds of a numeric Retry-After header, if the answer carried one. */
function retryAfterSeconds(res: Response): number | undefined {
  const value = Number(res.headers.get('retry-after'));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Turns a non-2xx answer into a ToolError: refused credentials and other 4xx cannot be helped by
 * retrying; a rate limit and a 5xx can. The body is never quoted, since a proxy may echo the key.
 * ToolErrorCode has no separate rate-limit code, so 429 is a retryable `remote_error` that says so.
 */
function statusError(req: SearchRequest, res: Response): ToolError {
  const status = res.status;
  if (status === 401 || status === 403) return new ToolError('remote_error', `${req.label} refused the request (HTTP ${status}): ${req.refusedHint}`);
  if (status === 429) {
    const after = retryAfterSeconds(res);
    return new ToolError('remote_error', `${req.label} rate-limited the search (HTTP 429); try again ${after ? `in ${after} s` : 'later'}`, { retryable: true });
  }
  if (status >= 500) return new ToolError('remote_error', `${req.label} failed (HTTP ${status}); try again later`, { retryable: true });
  // Redirects are not followed: a custom key header would travel to wherever the Location points.
  if (status >= 300 && status < 400) return new ToolError('remote_error', `${req.label} answered with a redirect (HTTP ${status}); its configured URL should be the final address`);
  return new ToolError('remote_error', `${req.label} rejected the search (HTTP ${status})`);
}

/** Reads at most `maxBytes` of the body; a longer one is cancelled and refused rather than buffered. */
async function readCapped(req: SearchRequest, res: Response): Promise<string> {
  const tooLarge = () => new ToolError('remote_error', `${req.label} answered more than ${req.maxBytes} bytes; the answer was not read`);
  if (Number(res.headers.get('content-length') ?? 0) > req.maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > req.maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Classifies a thrown fetch/read error: our deadline, the run being stopped, or an unreachable host. */
function failureError(req: SearchRequest, err: unknown, deadline: AbortSignal): ToolError {
  if (err instanceof ToolError) return err;
  if (deadline.aborted) return new ToolError('timeout', `${req.label} did not answer within ${req.timeoutMs} ms`, { retryable: true, cause: err });
  if (req.signal.aborted) return new ToolError('timeout', `the search was stopped before ${req.label} answered`, { retryable: true, cause: err });
  return new ToolError('remote_unreachable', `${req.label} could not be reached (${networkReason(err)})`, { retryable: true, cause: err });
}

/**
 * Sends `req` with global fetch and returns the parsed JSON body of a 2xx answer. Every failure is
 * a ToolError: `remote_error` (the API answered with an error or with something that is not JSON),
 * `remote_unreachable` (no answer), `timeout` (no answer within `timeoutMs`, or the run stopped).
 */
export async function searchJson(req: SearchRequest): Promise<unknown> {
  const deadline = AbortSignal.timeout(req.timeoutMs);
  let text: string;
  try {
    const res = await fetch(req.url, {
      method: req.method ?? 'GET',
      headers: { accept: 'application/json', 'user-agent': 'SwitchboardBot/0.1 (web_search)', ...req.headers, ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      redirect: 'manual',
      signal: AbortSignal.any([req.signal, deadline]),
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel();
      throw statusError(req, res);
    }
    text = await readCapped(req, res);
  } catch (err) {
    throw failureError(req, err, deadline);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ToolError('remote_error', `${req.label} answered with something that is not JSON`);
  }
}
