import { readSse, type SseEvent } from './sse.ts';

/** POSTs JSON (or a raw string body) to the system under test. */
export function postJson(baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/**
 * Follows a session's SSE stream until `until` holds for the events seen so far (15 s at most),
 * and returns them. `query` defaults to replaying the retained log (`?after=0`).
 */
export async function collectEvents(
  baseUrl: string,
  sessionId: string,
  until: (events: SseEvent[]) => boolean,
  opts: { headers?: Record<string, string>; query?: string; timeoutMs?: number } = {},
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/v1/sessions/${sessionId}/events${opts.query ?? '?after=0'}`, { headers: opts.headers ?? {}, signal: controller.signal });
  if (res.status !== 200) throw new Error(`events: HTTP ${res.status}`);
  if (!res.headers.get('content-type')?.includes('text/event-stream')) throw new Error('events: not an event stream');
  const events: SseEvent[] = [];
  const done = readSse(res.body!, (e) => {
    events.push(e);
    if (until(events)) controller.abort();
  });
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([done, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(events)}`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}
