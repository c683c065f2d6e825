/*
 * Throughput and latency of the whole system through the web API, with the fake model.
 * Usage: npm run bench [-- --quick] ; writes bench/results/throughput-<time>.json and prints a table.
 * The system runs as its own process (`node src/main.ts`), as `npm start` runs it; the fake model
 * and the load generator run in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisServer, startFakeOpenAI, waitFor } from '@switchboard/testkit';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const quick = process.argv.includes('--quick');

interface Running {
  url: string;
  child: ChildProcess;
  startMs: number;
  stop(): Promise<void>;
}

async function startSystem(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'sb-bench-'));
  const started = performance.now();
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, intervalMs: 5 });
  const startMs = performance.now() - started;
  return {
    url,
    child,
    startMs,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function chat(url: string, sessionId: string, text: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-session-id': sessionId },
    body: JSON.stringify({ messages: [{ role: 'user', content: text }] }),
  });
  const body = (await res.json()) as { choices?: Array<{ message: { content: string } }> };
  if (res.status !== 200 || body.choices?.[0]?.message.content !== `echo: ${text}`) throw new Error(`bad reply ${res.status}: ${JSON.stringify(body)}`);
  return performance.now() - t0;
}

/** `sessions` clients, each sending its next message when the previous is answered, for `durationMs`. */
async function closedLoop(url: string, label: string, sessions: number, durationMs: number, warmupMs: number) {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  await Promise.all(
    Array.from({ length: sessions }, async (_, s) => {
      for (let i = 0; performance.now() < end; i++) {
        try {
          const t0 = performance.now();
          const ms = await chat(url, `${label}-${s}`, `m${i}`);
          if (t0 >= measureFrom && performance.now() <= end) latencies.push(ms);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    sessions,
    durationSeconds: durationMs / 1000,
    messages: latencies.length,
    messagesPerSecond: Math.round((latencies.length / durationMs) * 1000 * 10) / 10,
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
    errors,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kb / 1024);
}

async function main() {
  const redis = await startRedisServer();
  const model = await startFakeOpenAI({ record: false });
  const baseEnv = { REDIS_URL: redis.url, OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'bench', LLM_MODEL: 'fake-model' };
  const results: Record<string, unknown> = { node: process.version, cpus: (await import('node:os')).cpus().length, quick, at: new Date().toISOString() };
  try {
    // First start on an empty DATA_DIR, and idle memory.
    let sys = await startSystem({ ...baseEnv, SWITCHBOARD_PREFIX: 'benchA' });
    results.firstStartMs = round(sys.startMs);
    await new Promise((r) => setTimeout(r, 3000));
    results.idleRssMiB = await rssMiB(sys.child.pid!);

    model.setLatencyMs(0);
    const seq = await closedLoop(sys.url, 'seq', 1, quick ? 3000 : 10_000, 1000);
    results.sequentialOneSession = seq;
    const c50 = await closedLoop(sys.url, 'c50', 50, quick ? 5000 : 15_000, 2000);
    results.concurrent50Sessions0ms = c50;
    results.rssAfterLoadMiB = await rssMiB(sys.child.pid!);
    await sys.stop();

    const turnConcurrency = 500;
    sys = await startSystem({ ...baseEnv, SWITCHBOARD_PREFIX: 'benchB', TURN_CONCURRENCY: String(turnConcurrency) });
    model.setLatencyMs(1000);
    const c500 = await closedLoop(sys.url, 'c500', 500, quick ? 6000 : 15_000, 3000);
    const bound = turnConcurrency / 1; // turns at once / model latency in seconds
    results.concurrent500Sessions1000ms = { ...c500, turnConcurrency, boundMessagesPerSecond: bound, fractionOfBound: round(c500.messagesPerSecond / bound) };
    await sys.stop();
  } finally {
    await model.close();
    await redis.stop();
  }
  results.targets = {
    'sequential p99 < 25 ms': (results.sequentialOneSession as { p99Ms: number }).p99Ms < 25,
    '50 sessions >= 400 msg/s': (results.concurrent50Sessions0ms as { messagesPerSecond: number }).messagesPerSecond >= 400,
    '1000 ms model >= 90% of bound': (results.concurrent500Sessions1000ms as { fractionOfBound: number }).fractionOfBound >= 0.9,
    'idle RSS < 190 MiB': (results.idleRssMiB as number) < 190,
    'first start < 1.5 s': (results.firstStartMs as number) < 1500,
  };
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `throughput-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(results, null, 2));
  console.table({
    'sequential, 1 session, 0 ms': results.sequentialOneSession,
    '50 sessions, 0 ms': results.concurrent50Sessions0ms,
    '500 sessions, 1000 ms': results.concurrent500Sessions1000ms,
  });
  console.log({ firstStartMs: results.firstStartMs, idleRssMiB: results.idleRssMiB, rssAfterLoadMiB: results.rssAfterLoadMiB, targets: results.targets });
  console.log(`wrote ${file}`);
}

await main();
