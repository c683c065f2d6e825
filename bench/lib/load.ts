/*
 * Closed-loop load through `POST /v1/chat/completions`: each simulated session sends its next
 * message when the previous one is answered. The client is node:http with a keep-alive agent
 * (one socket per session): it costs a fraction of what fetch costs per request, and the load
 * generator shares the machine's two cores with the system it measures.
 */
import { Agent, request } from 'node:http';
import { round } from './procs.ts';

export interface LoadResult {
  sessions: number;
  durationSeconds: number;
  messages: number;
  messagesPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  /** The first few distinct error messages, for diagnosis. */
  errorSamples?: string[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One chat completion; resolves with its latency in ms, rejects unless the reply is the echo of `text`. */
function chat(agent: Agent, url: URL, sessionId: string, text: string): Promise<number> {
  const body = JSON.stringify({ messages: [{ role: 'user', content: text }] });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-session-id': sessionId },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString();
          try {
            const parsed = JSON.parse(raw) as { choices?: Array<{ message: { content: string } }> };
            if (res.statusCode === 200 && parsed.choices?.[0]?.message.content === `echo: ${text}`) return resolve(performance.now() - t0);
          } catch {
            // reported below
          }
          reject(new Error(`bad reply ${res.statusCode}: ${raw.slice(0, 200)}`));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Runs `sessions` closed-loop clients for `warmupMs + durationMs` (after one answered message per
 * session) and reports the requests answered within the measured window (the last `durationMs`):
 * throughput is those answers per second, latencies are theirs. (Counting only requests that also
 * started in the window would miss most answers when latency is a sizeable part of the window.)
 */
export async function closedLoop(
  baseUrl: string,
  label: string,
  sessions: number,
  durationMs: number,
  warmupMs: number,
  /** Called when the measured window opens and when it closes (CPU snapshots). */
  window?: { onStart(): Promise<void>; onEnd(): Promise<void> },
): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: sessions, maxFreeSockets: sessions });
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  let errors = 0;
  // Every session's first message (the first turn loads the tokenizer, the JIT warms up) is answered
  // before the clock starts.
  await Promise.all(Array.from({ length: sessions }, (_, s) => chat(agent, url, `${label}-${s}`, 'm-prime').catch(() => undefined)));
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  const marks: Array<Promise<void>> = [];
  const once = (mark: (() => Promise<void>) | undefined) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      marks.push(mark?.() ?? Promise.resolve());
    };
  };
  const openWindow = once(window && (() => window.onStart()));
  const closeWindow = once(window && (() => window.onEnd()));
  const startTimer = setTimeout(openWindow, warmupMs);
  const endTimer = setTimeout(closeWindow, warmupMs + durationMs);
  await Promise.all(
    Array.from({ length: sessions }, async (_, s) => {
      for (let i = 0; performance.now() < end; i++) {
        try {
          const ms = await chat(agent, url, `${label}-${s}`, `m${i}`);
          const at = performance.now();
          if (at >= measureFrom && at <= end) latencies.push(ms);
        } catch (err) {
          errors += 1;
          if (errorSamples.size < 5) errorSamples.add((err as Error).message);
        }
      }
    }),
  );
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  // The loops stop at their first answer past `end`, which can come before the end timer fires.
  openWindow();
  closeWindow();
  await Promise.all(marks);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sessions,
    durationSeconds: durationMs / 1000,
    messages: latencies.length,
    messagesPerSecond: round((latencies.length / durationMs) * 1000),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies[latencies.length - 1] ?? NaN),
    errors,
    ...(errorSamples.size > 0 ? { errorSamples: [...errorSamples] } : {}),
  };
}
