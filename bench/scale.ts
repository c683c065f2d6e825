/*
 * Scale-out on one machine: the same closed-loop load through one web service process, with 1, 2
 * and 4 agent-worker processes against one Redis and one database, while model latency is the
 * limit. Usage: npm run bench:scale [-- --quick] [-- --workers 1,2,4] [-- --per-worker 25]
 * [-- --latency 1000] [-- --sessions 150]
 *
 * Each process runs as it does in production (`services/<name>/src/main.ts`); the database is the
 * embedded PGlite served over the Postgres wire protocol (`npm run db:embedded`), which every
 * process reaches through DATABASE_URL. Each agent worker runs `--per-worker` turns at once
 * (TURN_CONCURRENCY), so with W workers and a model that takes L ms the bound is
 * min(sessions, W × per-worker) / L messages per second. Each run also records every service's idle
 * RSS before the load. Writes bench/results/scale-<time>.json.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startFakeOpenAI, startRedisServer } from '@switchboard/testkit';
import { closedLoop } from './lib/load.ts';
import { cpuPerMessage, cpuSnapshot, loadAverage1m, ROOT, round, rssMiB, startProcess, tcpOpen, type BenchProcess } from './lib/procs.ts';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1]! : fallback;
}

const quick = process.argv.includes('--quick');
const workerCounts = arg('workers', '1,2,4').split(',').map(Number);
const perWorker = Number(arg('per-worker', '25'));
const latencyMs = Number(arg('latency', '1000'));
/** How long the services idle before their resident memory is read. */
const IDLE_SETTLE_MS = 3000;
const sessions = Number(arg('sessions', String(Math.max(...workerCounts) * perWorker + 50)));
const durationMs = quick ? 8000 : 15_000;
const warmupMs = Math.max(3000, 3 * latencyMs);

async function main(): Promise<void> {
  if (workerCounts.some((n) => !Number.isInteger(n) || n < 1) || !(perWorker >= 1) || !(latencyMs >= 0) || !(sessions >= 1)) {
    throw new Error('usage: --workers 1,2,4 --per-worker <n ≥ 1> --latency <ms ≥ 0> --sessions <n ≥ 1>');
  }
  const redis = await startRedisServer();
  const model = await startFakeOpenAI({ record: false, latencyMs });
  const dataDir = await mkdtemp(join(tmpdir(), 'sb-scale-'));
  await chmod(dataDir, 0o755);
  const dbPort = await freePort();
  const running: BenchProcess[] = [];
  const runs: Array<Record<string, unknown>> = [];
  const results: Record<string, unknown> = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    quick,
    modelLatencyMs: latencyMs,
    turnConcurrencyPerWorker: perWorker,
    sessions,
    database: 'embedded PGlite over the wire (npm run db:embedded)',
    memoryExtraction: 'off',
    loadAverage1mBefore: await loadAverage1m(),
    runs,
  };
  try {
    const db = await startProcess('shared/store/src/embedded-server-main.ts', { DATA_DIR: dataDir, EMBEDDED_DB_PORT: String(dbPort) }, { port: dbPort, ready: tcpOpen });
    running.push(db);
    const databaseUrl = `postgres://postgres@127.0.0.1:${dbPort}/postgres`;
    const common = {
      REDIS_URL: redis.url,
      DATABASE_URL: databaseUrl,
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'bench',
      LLM_MODEL: 'fake-model',
      MEMORY_EXTRACTION: 'off',
      DATA_DIR: dataDir,
    };
    for (const workers of workerCounts) {
      // A fresh prefix per run: no queue or session state carries over between worker counts.
      const prefix = `scale${workers}x${Date.now().toString(36)}`;
      const env = { ...common, SWITCHBOARD_PREFIX: prefix };
      const web = await startProcess('services/web/src/main.ts', env);
      running.push(web);
      const agents: BenchProcess[] = [];
      for (let i = 0; i < workers; i++) {
        const agent = await startProcess('services/agent-worker/src/main.ts', { ...env, TURN_CONCURRENCY: String(perWorker) });
        agents.push(agent);
        running.push(agent);
      }
      const pids: Record<string, number> = { web: web.child.pid!, db: db.child.pid!, redis: redis.process.pid! };
      agents.forEach((a, i) => (pids[`agent${i + 1}`] = a.child.pid!));
      // Resident memory of each service idle, 3 s after the last one is ready (before any load).
      await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
      const idleRssMiB: Record<string, number> = {};
      for (const [name, pid] of Object.entries(pids)) if (name !== 'redis') idleRssMiB[name] = await rssMiB(pid);
      let before: Record<string, number> = {};
      let after: Record<string, number> = {};
      const load = await closedLoop(web.url, prefix, sessions, durationMs, warmupMs, {
        onStart: async () => void (before = await cpuSnapshot(pids)),
        onEnd: async () => void (after = await cpuSnapshot(pids)),
      });
      const bound = Math.min(sessions, workers * perWorker) / (latencyMs / 1000);
      const cpu = cpuPerMessage(before, after, load.messages);
      runs.push({
        workers,
        ...load,
        boundMessagesPerSecond: bound,
        fractionOfBound: round(load.messagesPerSecond / bound, 2),
        cpuMsPerMessage: cpu,
        idleRssMiB,
        // Share of the machine's CPU the measured window used (2 cores = 1.0).
        machineCpuShare: round((cpu.total! * load.messagesPerSecond) / 1000 / cpus().length, 2),
      });
      console.log(`${workers} agent worker(s): ${load.messagesPerSecond} msg/s of ${bound} bound, p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, errors ${load.errors}; idle RSS MiB ${JSON.stringify(idleRssMiB)}`);
      for (const p of [...agents, web]) {
        await p.stop();
        running.splice(running.indexOf(p), 1);
      }
    }
  } finally {
    for (const p of running.reverse()) await p.stop().catch(() => undefined);
    await model.close();
    await redis.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  results.loadAverage1mAfter = await loadAverage1m();
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(results, null, 2));
  console.table(
    Object.fromEntries(
      runs.map((r) => [
        `${r.workers} worker(s)`,
        { 'msg/s': r.messagesPerSecond, bound: r.boundMessagesPerSecond, 'of bound': r.fractionOfBound, p50: r.p50Ms, p99: r.p99Ms, errors: r.errors, 'cpu share': r.machineCpuShare },
      ]),
    ),
  );
  console.log({ loadAverage1m: [results.loadAverage1mBefore, results.loadAverage1mAfter] });
  console.log(`wrote ${file}`);
}

await main();
