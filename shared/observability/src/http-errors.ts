import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './logger.ts';

/** The JSON body of every error an HTTP service of Switchboard answers (OpenAI-compatible enough for its clients). */
export function errorBody(status: number, code: string, message: string, details?: unknown) {
  return { error: { code, message, type: status < 500 ? 'invalid_request_error' : 'server_error', ...(details === undefined ? {} : { details }) } };
}

/** Writes {@link errorBody} as the response, unless a response is already under way. */
export function writeError(res: ServerResponse, status: number, code: string, message: string, details?: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(errorBody(status, code, message, details));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Express' error handler (its four arguments) for the web app and the standalone channel
 * services: a body that is not JSON or is too large, and any other 4xx a body parser raises, is
 * answered as a 4xx; anything else is logged and answered 500. A response already under way (a
 * stream) cannot turn into an error: it is ended, so the client is not left waiting. Express'
 * default would answer an HTML page with the parser's message.
 */
export function jsonErrorHandler(logger: Logger) {
  return (err: { type?: string; status?: number; message?: string }, req: IncomingMessage & { path?: string }, res: ServerResponse, _next: unknown): void => {
    const path = req.path ?? req.url;
    if (res.headersSent) {
      logger.error({ err, path }, 'request handler failed after its response started');
      if (!res.writableEnded) res.end();
      return;
    }
    if (err.type === 'entity.parse.failed') return writeError(res, 400, 'bad_request', 'request body is not valid JSON');
    if (err.type === 'entity.too.large') return writeError(res, 413, 'bad_request', 'request body is too large');
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) return writeError(res, err.status, 'bad_request', err.message ?? 'bad request');
    logger.error({ err, path }, 'request handler failed');
    writeError(res, 500, 'handler_error', 'internal error');
  };
}
