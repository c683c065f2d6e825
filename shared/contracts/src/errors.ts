/** Machine-readable error codes; the prefix says whose fault it was. */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'not_found'
  | 'remote_error'
  | 'remote_unreachable'
  | 'rate_limited'
  | 'timeout'
  | 'handler_error'
  | 'fenced'
  | 'invalid_payload'
  | 'config_error';

/**
 * The error every boundary understands: a `code`, whether retrying can help, and (for remote
 * errors) the remote status.
 */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.status = opts.status;
  }
}
