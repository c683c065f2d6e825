import type { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';

/**
 * Reads a `text/event-stream` body as OpenAI-compatible servers stream a completion: each event's
 * data is one JSON value and `data: [DONE]` ends the stream. Calls `onEvent` with each parsed
 * value and the event's name (`undefined` for unnamed events).
 *
 * Resolves at `[DONE]` or at the end of the body, and rejects with the body's own error (a lost
 * connection keeps Node's code, `ECONNRESET`), with a `SyntaxError` for data that is not JSON, or
 * with whatever `onEvent` throws; the body is destroyed then. What follows `[DONE]` is read and
 * dropped, so that the keep-alive connection goes back to its pool once the response ends.
 */
export function readEventStream(body: Readable, onEvent: (data: unknown, event: string | undefined) => void): Promise<void> {
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
        if (settled) return;
        if (message.data === '[DONE]') return settle();
        try {
          onEvent(JSON.parse(message.data), message.event);
        } catch (error) {
          settle(error);
        }
      },
    });
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      if (!settled) parser.feed(chunk);
    });
    body.once('end', () => settle());
    body.once('error', (error) => settle(error));
    body.once('close', () => {
      if (!body.readableEnded) settle(Object.assign(new Error('connection closed before the end of the stream'), { code: 'ECONNRESET' }));
    });
  });
}
