import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** Limits on what the Streamable HTTP transport reads from one server. */
export interface BoundedFetchOptions {
  /**
   * Bytes one message may take: a whole JSON answer, or one SSE event (up to its blank line). A
   * server that sends more is cut off, as a stdio server that writes as much without a newline is.
   */
  maxMessageBytes: number;
  /**
   * How long the answer to a POSTed request (JSON, or the SSE stream that carries it) may stay
   * open, in ms, by the request's JSON-RPC method: as long as the caller waits for that request
   * (plus a margin). After that nobody waits for it any more, and reading on would only fill memory.
   */
  answerDeadlineMs: (method: string | undefined) => number;
}

/** The JSON-RPC method of a POSTed message (undefined for a batch, a response, or anything unreadable). */
function methodOf(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message = JSON.parse(body) as { method?: unknown };
    return typeof message.method === 'string' ? message.method : undefined;
  } catch {
    return undefined;
  }
}

const LF = 0x0a;
const CR = 0x0d;

/** Index just past the last blank line (`\n\n`, `\r\n\r\n`, `\r\r`) in `bytes`, or -1. */
function lastEventEnd(bytes: Buffer): number {
  let end = -1;
  for (const pattern of [[LF, LF], [LF, CR, LF], [CR, CR]]) {
    const at = bytes.lastIndexOf(Buffer.from(pattern));
    if (at !== -1) end = Math.max(end, at + pattern.length);
  }
  return end;
}

function isEventStream(contentType: string | null): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'text/event-stream';
}

/**
 * A fetch for `StreamableHTTPClientTransport` that bounds what a server can make the runner read.
 * The SDK reads a JSON answer whole (`response.json()`) and an SSE answer event by event, on a
 * body tied only to the transport's lifetime, not to the call: without this, an answer that never
 * ends is read (and buffered) on after the call timed out, and a huge one is held whole in memory
 * before the output cap cuts it. Here a body is cut off (an error, like a dropped connection) once
 * one message passes `maxMessageBytes`, and a request's answer once nobody waits for it any more
 * (`answerDeadlineMs`).
 */
export function boundedFetch(opts: BoundedFetchOptions, base: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    const stop = new AbortController();
    const signal = init?.signal ? AbortSignal.any([init.signal, stop.signal]) : stop.signal;
    const res = await base(url, { ...init, signal });
    if (!res.body) return res;
    const sse = isEventStream(res.headers.get('content-type'));
    const method = (init?.method ?? 'GET').toUpperCase();
    let timer: NodeJS.Timeout | undefined;
    let pending = 0;
    let carry = Buffer.alloc(0);
    // A body cut off by the caller (the transport closing) ends the timer too. The listener goes
    // once the body is done: a combined signal with an abort listener is kept alive by Node until
    // it aborts, and the transport's signal aborts only when the transport closes (every request
    // of the connection, its body included, would be kept till then).
    const onAbort = () => clearTimeout(timer);
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const counted = new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        if (method !== 'POST') return;
        const deadlineMs = opts.answerDeadlineMs(methodOf(init?.body));
        timer = setTimeout(() => {
          done();
          const err = new Error(`the server's answer was still open after ${deadlineMs} ms; stopped reading it`);
          controller.error(err);
          stop.abort(err);
        }, deadlineMs);
        timer.unref();
        signal.addEventListener('abort', onAbort, { once: true });
      },
      transform(chunk, controller) {
        const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (sse) {
          // Bytes since the last event boundary; the carry catches a boundary split between chunks.
          const joined = Buffer.concat([carry, bytes]);
          const end = lastEventEnd(joined);
          pending = end === -1 ? pending + bytes.length : joined.length - end;
          carry = Buffer.from(joined.subarray(Math.max(0, joined.length - 2)));
        } else {
          pending += bytes.length;
        }
        if (pending > opts.maxMessageBytes) {
          done();
          const err = new Error(`the server sent more than ${opts.maxMessageBytes} bytes in one message; stopped reading it`);
          controller.error(err);
          stop.abort(err);
          return;
        }
        controller.enqueue(chunk);
      },
      flush() {
        done();
      },
      // Also called when the body fails (a dropped connection, the transport aborting it).
      cancel() {
        done();
      },
    });
    const body = res.body.pipeThrough(counted);
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
