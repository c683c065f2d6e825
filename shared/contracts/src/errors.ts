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

/** What a failed zod parse says about each field (structurally, so no zod import is needed here). */
export interface FieldIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Zod's issues as `{ path, message }` entries for an API error body; `under` goes before each path. */
export function issueList(issues: readonly FieldIssue[], under = ''): Array<{ path: string; message: string }> {
  return issues.map((i) => ({ path: [under, ...i.path.map(String)].filter((p) => p !== '').join('.'), message: i.message }));
}

/** Zod's issues as one line, `path: message; …` (`(root)` for the value itself); `under` goes before each path. */
export function issuesText(issues: readonly FieldIssue[], under = ''): string {
  return issueList(issues, under)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
}
