import { Router, type Request, type Response } from 'express';
import type { Gauge } from 'prom-client';
import { SafeId, type StoredSessionEvent } from '@switchboard/contracts';
import type { EventHub } from '@switchboard/lanes';
import type { LaneStore } from '@switchboard/lanes';
import { sendError } from '../http-errors.ts';
import { webSessionKey } from '../web-session.ts';

const STREAM_ID = /^\d{1,20}-\d{1,20}$|^0$/;
/** Largest part of a Redis stream id (an unsigned 64-bit integer). */
const MAX_ID_PART = 2n ** 64n - 1n;

/** Whether `id` is an event id Redis can read after: `0`, or `<ms>-<seq>` with both parts in range. */
function isStreamId(id: string): boolean {
  return STREAM_ID.test(id) && id.split('-').every((part) => BigInt(part) <= MAX_ID_PART);
}

/**
 * Most bytes an SSE stream may have waiting for its client: past it the client is not reading (an
 * app in the background, a stuck proxy), and the stream is cut rather than the web process holding
 * every later event. It resumes from where it was read with `Last-Event-ID`.
 */
export const MAX_SSE_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Writes `text` to an SSE stream, or cuts the stream when its client left more than the backlog cap unread. */
function sendSse(res: Response, text: string): void {
  if (res.destroyed) return;
  if (res.writableLength > MAX_SSE_BACKLOG_BYTES) {
    res.destroy();
    return;
  }
  res.write(text);
}

/** Events in the SSE wire format: the stream id as `id`, the event type as `event`. */
function formatSse(events: StoredSessionEvent[]): string {
  let out = '';
  for (const { id, event } of events) out += `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  return out;
}

/** Writes events in the SSE wire format (see {@link formatSse}), within the backlog cap. */
export function writeSse(res: Response, events: StoredSessionEvent[]): void {
  sendSse(res, formatSse(events));
}

/** Events a replay reads (and writes) at a time: with 16 KiB tool results, under 2 MiB. */
const REPLAY_PAGE_EVENTS = 100;
/** How long a replay waits for its client to take a page before it gives up on the client. */
export const SSE_STALL_MS = 30_000;

/**
 * Waits until what was written has gone to the client: true when it has, false when the stream
 * closed (or was cut, after `SSE_STALL_MS` without the client reading anything).
 */
function drained(res: Response): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  // 'drain' comes only after a write that answered false (the buffer past its high-water mark).
  if (!res.writableNeedDrain) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    const timer = setTimeout(() => {
      res.destroy();
      finish(false);
    }, SSE_STALL_MS);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Writes the retained events after `after`, a page at a time, each once the client has taken the
 * one before: a replay can be far larger than the backlog cap (which is for live events a client
 * leaves unread), and a client reading it steadily must not be cut for it. Returns the id to
 * follow on from, or undefined when the stream closed meanwhile.
 */
async function replay(res: Response, store: LaneStore, key: string, after: string): Promise<string | undefined> {
  let last = after;
  for (;;) {
    const page = await store.readEventPage(key, last, REPLAY_PAGE_EVENTS);
    if (res.destroyed) return undefined;
    last = page.lastId;
    if (page.events.length > 0) res.write(formatSse(page.events));
    if (!(await drained(res))) return undefined;
    if (!page.full) return last;
  }
}

/**
 * `GET /v1/sessions/{sessionId}/events`: Server-Sent Events of the session. A reconnecting client
 * sends `Last-Event-ID` and gets every retained event after it; a new client gets new events only,
 * or the whole retained log with `?after=0`.
 */
export function eventsRouter(hub: EventHub, store: LaneStore, connections: Gauge): Router {
  const router = Router();
  router.get('/v1/sessions/:sessionId/events', async (req: Request, res: Response) => {
    const sessionId = SafeId.safeParse(req.params.sessionId);
    if (!sessionId.success) return sendError(res, 400, 'bad_request', 'invalid session id');
    const key = webSessionKey(res.locals.caller.account, sessionId.data);
    const resumeFrom = req.get('last-event-id') ?? (typeof req.query.after === 'string' ? req.query.after : undefined);
    if (resumeFrom !== undefined && !isStreamId(resumeFrom)) return sendError(res, 400, 'bad_request', req.get('last-event-id') === undefined ? 'invalid after= event id' : 'invalid Last-Event-ID');
    // The response's `close` (not the request's, which fires once the request is read) is the
    // client going away. Listened to before the first await, so a client that leaves during one
    // still releases what the stream has taken by then.
    const release: Array<() => void> = [];
    let closed = false;
    res.on('close', () => {
      closed = true;
      for (const undo of release.splice(0)) undo();
    });
    const head = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    };
    // A HEAD gets the stream's head and nothing to hold open (it can carry no events).
    if (req.method === 'HEAD') return void res.writeHead(200, head).end();
    const after = resumeFrom ?? (await store.lastEventId(key));
    if (closed) return;
    res.writeHead(200, head);
    // Marks an endless response: a closing replica ends it instead of waiting for it.
    res.locals.eventStream = true;
    res.write('retry: 1000\n\n');
    connections.inc();
    release.push(() => connections.dec());
    // Should this fail, the app's error handler ends the response (its head is out): the client
    // reconnects with Last-Event-ID rather than waits.
    const from = resumeFrom === undefined ? after : await replay(res, store, key, after);
    if (closed || from === undefined) return;
    const unsubscribe = await hub.subscribe(key, from, (events) => writeSse(res, events));
    if (closed) return unsubscribe();
    const heartbeat = setInterval(() => sendSse(res, ': keep-alive\n\n'), 15_000);
    release.push(unsubscribe, () => clearInterval(heartbeat));
  });
  return router;
}
