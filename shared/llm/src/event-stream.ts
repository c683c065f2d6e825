import type { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';

/** How long a body may stay open after `[DONE]` before it is closed (its connection then is not reused). */
const DRAIN_AFTER_DONE_MS = 1000;

/**
 * Reads a `text/event-stream` body as OpenAI-compatible servers stream a completion: each event's
 * data is one JSON value and `data: [DONE]` ends the stream. Calls `onEvent` with each parsed
 * value and the event's name (`undefined` for unnamed events); no further call once the body has
 * been destroyed (an abort), even for events of a chunk already read.
 *
 * Resolves at `[DONE]` or at the end of the body, and rejects with the body's own error (a lost
 * connection keeps Node's code, `ECONNRESET`), with a `SyntaxError` for data that is not JSON, or
 * with whatever `onEvent` throws; the body is destroyed then. What follows `[DONE]` is read and
 * dropped, so that the keep-alive connection goes back to its pool once the response ends; a
 * response still open `drainMs` after `[DONE]` is destroyed.
 */
export function readEventStream(
  body: Readable,
  onEvent: (data: unknown, event: string | undefined) => void,
  opts: {
    drainMs?: number;
    /**
     * Called for every piece of the body read, before its events (if any) are passed on: bytes
     * that are no event yet (an SSE comment a proxy sends to keep a slow answer alive, part of a
     * large event) show the connection is alive all the same.
     */
    onActivity?: () => void;
  } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      if (error === undefined) return resolve();
      body.destroy();
      reject(error);
    };
    const parser = createParser({
      onEvent(message) {
        if (settled || body.destroyed) return;
        if (message.data === '[DONE]') {
          settle();
          if (!body.readableEnded) {
            const drain = setTimeout(() => body.readableEnded || body.destroy(), opts.drainMs ?? DRAIN_AFTER_DONE_MS).unref();
            // Cleared as soon as the body is done (it normally ends right after [DONE]): a pending
            // timer would keep this closure, and through it the response, its request and the
            // turn's promises, alive for the whole drain time; at hundreds of completions a second
            // those all outlived the young generation and went to the old one.
            body.once('close', () => clearTimeout(drain));
          }
          return;
        }
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch (error) {
          // A fixed message: the data is the model's output, not for logs.
          return settle(new SyntaxError('event data is not JSON', { cause: error }));
        }
        try {
          onEvent(data, message.event);
        } catch (error) {
          settle(error);
        }
      },
    });
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      if (settled) return;
      opts.onActivity?.();
      parser.feed(chunk);
    });
    body.once('end', () => settle());
    body.once('error', (error) => settle(error));
    body.once('close', () => {
      if (!body.readableEnded) settle(Object.assign(new Error('connection closed before the end of the stream'), { code: 'ECONNRESET' }));
    });
  });
}
