import { SwitchboardError } from '@switchboard/contracts';
import type * as OpenAIModule from 'openai';
import { parseRetryAfterMs } from './retry.ts';

/** A failed attempt, classified: the error to surface and the wait the server asked for. */
/** The SDK's error classes, passed in because the SDK itself is imported lazily. */
export type SdkErrors = Pick<typeof OpenAIModule, 'APIError' | 'APIConnectionError' | 'APIConnectionTimeoutError'>;

export interface ClassifiedFailure {
  error: SwitchboardError;
  /** From `retry-after-ms` / `Retry-After`, when the server sent one. */
  retryAfterMs: number | undefined;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Turns whatever one attempt threw (an SDK error, an undici transport error from the middle of
 * a stream, a malformed event) into a {@link SwitchboardError} that says whose fault it was.
 * Aborts and our own callbacks' errors are handled before this is called. Returns `undefined`
 * for an error that is neither the remote's nor the network's (a bug of ours), to be rethrown.
 */
export function classifyError(err: unknown, model: string, sdk: SdkErrors): ClassifiedFailure | undefined {
  const { APIConnectionError, APIConnectionTimeoutError, APIError } = sdk;
  if (err instanceof APIConnectionTimeoutError) {
    return fail('timeout', `LLM ${model}: no response headers before the timeout`, err, { retryable: true });
  }
  if (err instanceof APIConnectionError) {
    return fail('remote_unreachable', `LLM ${model}: could not connect: ${causeMessage(err)}`, err, { retryable: true });
  }
  if (err instanceof APIError) {
    const status = err.status;
    if (status === undefined) {
      // An `error` event inside a 200 stream: the server gave up mid-answer, or (vLLM, LiteLLM)
      // refused the request after the head, saying so with a status or OpenAI's error type.
      const stated = statedStatus(err.error);
      const refused = stated !== undefined ? !isRetryableStatus(stated) : err.type === 'invalid_request_error';
      return {
        error: new SwitchboardError(stated === 429 ? 'rate_limited' : 'remote_error', `LLM ${model}: error event in stream: ${err.message}`, {
          ...(stated !== undefined ? { status: stated } : {}),
          retryable: !refused,
          cause: err,
        }),
        retryAfterMs: undefined,
      };
    }
    const override = err.headers?.get('x-should-retry');
    const retryable = override === 'true' ? true : override === 'false' ? false : isRetryableStatus(status);
    const code = status === 429 ? 'rate_limited' : 'remote_error';
    return {
      error: new SwitchboardError(code, `LLM ${model}: server answered ${err.message}`, { status, retryable, cause: err }),
      retryAfterMs: parseRetryAfterMs(err.headers),
    };
  }
  if (err instanceof SyntaxError) {
    return fail('remote_error', `LLM ${model}: malformed stream: ${err.message}`, err, { retryable: true });
  }
  if (err instanceof SwitchboardError) return { error: err, retryAfterMs: undefined };
  if (isTransportError(err)) {
    return fail('remote_unreachable', `LLM ${model}: connection lost: ${causeMessage(err)}`, err, { retryable: true });
  }
  return undefined;
}

/** The HTTP status an error event's payload states (`status`, or a numeric `code`), if it is one. */
function statedStatus(payload: unknown): number | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const { status, code } = payload as { status?: unknown; code?: unknown };
  for (const value of [status, code]) {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{3}$/.test(value.trim()) ? Number(value) : NaN;
    if (Number.isInteger(n) && n >= 400 && n <= 599) return n;
  }
  return undefined;
}

/** undici reports a connection lost mid-body as `TypeError: terminated` with a `SocketError` cause. */
function isTransportError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.message === 'terminated' || err.message === 'fetch failed') return true;
  const code = (err as { code?: unknown }).code ?? (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(E[A-Z]+|UND_ERR_\w+)$/.test(code);
}

function fail(
  code: 'timeout' | 'remote_unreachable' | 'remote_error',
  message: string,
  cause: unknown,
  opts: { retryable: boolean },
): ClassifiedFailure {
  return { error: new SwitchboardError(code, message, { retryable: opts.retryable, cause }), retryAfterMs: undefined };
}

function causeMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
  }
  return err.message;
}
