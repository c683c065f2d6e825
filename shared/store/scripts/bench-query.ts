// Throughput and main-thread cost of PGlite under the agent's per-turn statements (the history read
// and the commit of src/transcript-sql.ts, which the agent worker runs), with N concurrent callers
// each driving its own session. The fencing token, which comes from Redis in the system, is a
// counter here. Prints one JSON line.
//
//   node shared/store/scripts/bench-query.ts                 PGlite in a worker thread (the default)
//   node shared/store/scripts/bench-query.ts --in-process    PGlite on the main thread
//   options: --callers 50  --seconds 10  --warmup-seconds 3  --history 100
//            --model-ms 0       wait between reading history and committing, like the model call (a
//                               timer; 0 still yields to the event loop once, as real I/O would)
//            --main-work-ms 0   CPU the main thread spends per turn besides the database (simulates
//                               the HTTP, Redis and BullMQ work of the one-process system)
//            --wasm-tier-up     let V8 optimise PGlite's WebAssembly with TurboFan (see pglite-runtime.ts)
//
// Run each variant in a fresh process: wasm compilation and tier-up are per process.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'in-process': { type: 'boolean', default: false },
    callers: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '3' },
    history: { type: 'string', default: '100' },
    'model-ms': { type: 'string', default: '0' },
    'main-work-ms': { type: 'string', default: '0' },
    'wasm-tier-up': { type: 'boolean', default: false },
  },
});
const thread = !args['in-process'];
const callers = Number(args.callers);
const seconds = Number(args.seconds);
const warmupSeconds = Number(args['warmup-seconds']);
const history = Number(args.history);
const modelMs = Number(args['model-ms']);
const mainWorkMs = Number(args['main-work-ms']);

const { openDatabase, TRANSCRIPT_COMMIT_SQL, TRANSCRIPT_HISTORY_SQL } = await import('../src/index.ts');
type Db = Awaited<ReturnType<typeof openDatabase>>;

/** CPU time of the calling thread in ms (Node >= 23.9 has threadCpuUsage; else /proc, 10 ms ticks). */
function threadCpuMs(): number {
  const usage = (process as unknown as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.();
  if (usage) return (usage.user + usage.system) / 1000;
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const MiB = (n: number) => Math.round((n / 1048576) * 10) / 10;
function memory(): { rssMiB: number; externalMiB: number; heapUsedMiB: number } {
  const m = process.memoryUsage();
  return { rssMiB: MiB(m.rss), externalMiB: MiB(m.external), heapUsedMiB: MiB(m.heapUsed) };
}

type Kind = 'history' | 'commit' | 'turn';
const latencies: Record<Kind, number[]> = { history: [], commit: [], turn: [] };
let recording = false;

async function timed<T>(kind: Kind, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  if (recording) latencies[kind].push(performance.now() - started);
  return result;
}

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy: stands in for request parsing, Redis replies and JSON work on the main thread.
  }
}

let turnCounter = 0;
async function turn(db: Db, session: string): Promise<void> {
  await timed('turn', () => turnStatements(db, session));
}

/** The two statements of one turn; 'turn' latency (history start → commit end) includes queueing either way. */
const fences = new Map<string, number>();
async function turnStatements(db: Db, session: string): Promise<void> {
  const turnId = `turn-${process.pid}-${++turnCounter}`;
  const fence = (fences.get(session) ?? 0) + 1;
  fences.set(session, fence);
  await timed('history', () => db.query(TRANSCRIPT_HISTORY_SQL, [session, history]));
  // The real turn talks to Redis and the model between statements: the event loop gets a turn.
  await (modelMs > 0 ? sleep(modelMs) : yieldToLoop());
  if (mainWorkMs > 0) spin(mainWorkMs);
  await yieldToLoop();
  const rows = [
    { ord: 1, role: 'user', content: `question ${turnCounter}: ${'lorem ipsum '.repeat(8)}`, tool_calls: null, tool_call_id: null, source_id: `in-${turnId}`, user_id: 'user-1', tokens: 30 },
    { ord: 2, role: 'assistant', content: `answer: ${'dolor sit amet '.repeat(12)}`, tool_calls: null, tool_call_id: null, source_id: null, user_id: null, tokens: 60 },
  ];
  const committed = await timed('commit', () =>
    db.query<{ inserted: number }>(TRANSCRIPT_COMMIT_SQL, [
      session, fence, turnId, [`in-${turnId}`], rows[1]!.content, 'bench-model', 100, 60, JSON.stringify(rows), 'web', 'bench', session, null, 'user-1',
    ]),
  );
  if (Number(committed.rows[0]!.inserted) !== 1) throw new Error(`turn ${turnId} was not committed`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

async function runCallers(db: Db, untilMs: number): Promise<number> {
  let turns = 0;
  await Promise.all(
    Array.from({ length: callers }, async (_, i) => {
      const session = `bench-${process.pid}-${i}`;
      while (performance.now() < untilMs) {
        await turn(db, session);
        turns++;
      }
    }),
  );
  return turns;
}

const openedAt = performance.now();
const db = await openDatabase({ thread, ...(args['wasm-tier-up'] ? { wasmTierUp: true } : {}) });
const openMs = performance.now() - openedAt;
const afterOpen = memory();

// Sequential `select 1`: the fixed cost of one round trip.
for (let i = 0; i < 200; i++) await db.query('select 1');
const s1Started = performance.now();
const s1Cpu = threadCpuMs();
for (let i = 0; i < 2000; i++) await db.query('select 1');
const select1Ms = (performance.now() - s1Started) / 2000;
const select1MainCpuMs = (threadCpuMs() - s1Cpu) / 2000;

await runCallers(db, performance.now() + warmupSeconds * 1000);

const delay = monitorEventLoopDelay({ resolution: 1 });
recording = true;
delay.enable();
const cpuMain0 = threadCpuMs();
const cpuProcess0 = processCpuMs();
const started = performance.now();
const turns = await runCallers(db, started + seconds * 1000);
const elapsedS = (performance.now() - started) / 1000;
const cpuMain = threadCpuMs() - cpuMain0;
const cpuProcess = processCpuMs() - cpuProcess0;
delay.disable();
recording = false;
const afterLoad = memory();
await db.close();

const queries = turns * 2;
const stats = (kind: Kind) => {
  const sorted = latencies[kind].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), p99: round(percentile(sorted, 99)) };
};
console.log(
  JSON.stringify({
    backend: thread ? 'worker-thread' : 'in-process',
    node: process.version,
    wasmTierUp: args['wasm-tier-up'],
    callers,
    modelMs,
    mainWorkMsPerTurn: mainWorkMs,
    openMs: Math.round(openMs),
    select1Ms: round(select1Ms),
    select1MainCpuMs: round(select1MainCpuMs),
    turnsPerSecond: Math.round(turns / elapsedS),
    queriesPerSecond: Math.round(queries / elapsedS),
    latencyMs: { turn: stats('turn'), history: stats('history'), commit: stats('commit') },
    mainThreadCpuMsPerQuery: round(cpuMain / queries, 4),
    otherThreadsCpuMsPerQuery: round((cpuProcess - cpuMain) / queries, 4),
    mainThreadCpuShare: round(cpuMain / 1000 / elapsedS, 2),
    eventLoopDelayMs: {
      mean: round(delay.mean / 1e6, 2),
      p50: round(delay.percentile(50) / 1e6, 2),
      p99: round(delay.percentile(99) / 1e6, 2),
      max: round(delay.max / 1e6, 2),
    },
    memoryAfterOpen: afterOpen,
    memoryAfterLoad: afterLoad,
  }),
);
