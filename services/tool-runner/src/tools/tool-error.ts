/**
 * Machine-readable reasons a built-in tool refuses or fails a call. They become the run's
 * `errorCode`, so the agent and the metrics can tell "the model asked for something forbidden"
 * from "the remote failed" from "our code broke".
 *
 * - Caller's fault (the model can correct the call): `invalid_path`, `path_escape`, `not_found`,
 *   `not_a_file`, `not_a_directory`, `too_large`, `quota_exceeded`, `limit_reached`, `not_unique`,
 *   `blocked_address`, `invalid_url`, `host_not_allowed`, `redirect_limit`, `memory_limit` (a shell
 *   command's processes together went over their memory cap).
 * - The remote's fault: `remote_error` (it answered with an error), `remote_unreachable`.
 * - Ours or the host's: `timeout`, `sandbox_unavailable`, `workspace_unavailable`.
 */
export type ToolErrorCode =
  | 'invalid_path'
  | 'path_escape'
  | 'not_found'
  | 'not_a_file'
  | 'not_a_directory'
  | 'too_large'
  | 'quota_exceeded'
  | 'limit_reached'
  | 'memory_limit'
  | 'not_unique'
  | 'blocked_address'
  | 'invalid_url'
  | 'host_not_allowed'
  | 'redirect_limit'
  | 'remote_error'
  | 'remote_unreachable'
  | 'timeout'
  | 'sandbox_unavailable'
  | 'workspace_unavailable'
  | 'bad_request';

/** An error a built-in tool throws on purpose; its message is written for the model to read. */
export class ToolError extends Error {
  readonly code: ToolErrorCode;
  /** Whether the same call may succeed if simply tried again. */
  readonly retryable: boolean;
  constructor(code: ToolErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ToolError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}
