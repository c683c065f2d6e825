import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

/**
 * Why an MCP tool call failed; becomes the run's `errorCode`.
 *
 * - `bad_request`: the server rejected the arguments (JSON-RPC invalid params) — the model can fix the call.
 * - `tool_error`: the tool ran and reported a failure (`isError: true`).
 * - `remote_error`: the server answered with another protocol error.
 * - `remote_unreachable`: the server is not connected or the connection broke; retrying later may help.
 * - `timeout`: the server did not answer within the time limit.
 * - `cancelled`: the run was aborted (time limit or shutdown) and the server was told to stop.
 */
export type McpToolErrorCode = 'bad_request' | 'tool_error' | 'remote_error' | 'remote_unreachable' | 'timeout' | 'cancelled';

/** A failed MCP tool call; the message is written for the model and already wraps server text as untrusted. */
export class McpToolError extends Error {
  readonly code: McpToolErrorCode;
  readonly retryable: boolean;
  /** The JSON-RPC error code when the server answered with one. */
  readonly rpcCode: number | undefined;
  constructor(code: McpToolErrorCode, message: string, opts: { retryable?: boolean; rpcCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'McpToolError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.rpcCode = opts.rpcCode;
  }
}

/** How a thrown error from the SDK should be treated. */
export interface ClassifiedError {
  code: McpToolErrorCode;
  retryable: boolean;
  rpcCode?: number;
  /** The connection is broken (transport failure, closed): reconnect. */
  connectionLost: boolean;
  /** Text from the server (untrusted), or our own description. */
  detail: string;
}

/**
 * Splits "the server answered with an error" (an `McpError` with its JSON-RPC code) from "the
 * server could not be reached" (transport errors, a closed connection) from "we gave up" (timeout,
 * abort).
 */
export function classifyMcpError(err: unknown, aborted: boolean): ClassifiedError {
  if (aborted) return { code: 'cancelled', retryable: false, connectionLost: false, detail: 'the call was cancelled' };
  if (err instanceof McpError) {
    const detail = err.message;
    switch (err.code) {
      case ErrorCode.RequestTimeout:
        return { code: 'timeout', retryable: true, rpcCode: err.code, connectionLost: false, detail: 'the server did not answer in time' };
      case ErrorCode.ConnectionClosed:
        return { code: 'remote_unreachable', retryable: true, rpcCode: err.code, connectionLost: true, detail: 'the connection to the server closed' };
      case ErrorCode.InvalidParams:
        return { code: 'bad_request', retryable: false, rpcCode: err.code, connectionLost: false, detail };
      default:
        return { code: 'remote_error', retryable: false, rpcCode: err.code, connectionLost: false, detail };
    }
  }
  // Anything else comes from the transport (fetch failed, HTTP 404 for an expired session, a dead pipe).
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'remote_unreachable', retryable: true, connectionLost: true, detail: `the server could not be reached (${message})` };
}
