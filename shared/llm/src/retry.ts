/** Header access shared by fetch `Headers` and plain records. */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * The wait a server asked for, in milliseconds, from `retry-after-ms` (milliseconds, not
 * standard but sent by OpenAI and Azure) or else `Retry-After` (delta-seconds or an HTTP date).
 * Returns `undefined` when neither header is present or parseable.
 */
export function parseRetryAfterMs(headers: HeaderSource | undefined, nowMs: number = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const trimmed = after.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Exponential backoff for retry number `retry` (0 for the first retry): `baseMs * 2^retry`,
 * capped at `maxMs`, minus up to 25% jitter so that clients which failed together spread out.
 */
export function backoffDelayMs(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const delay = Math.min(baseMs * 2 ** retry, maxMs);
  return delay * (1 - random() * 0.25);
}

/** The error thrown for an aborted request: a `DOMException` named `AbortError`, cause = the signal's reason. */
export function abortError(signal: AbortSignal): DOMException {
  return new DOMException('LLM request aborted', { name: 'AbortError', cause: signal.reason });
}

/** Resolves after `ms` milliseconds; rejects with {@link abortError} as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
