// Throughput and main-thread cost of PGlite under the agent's per-turn statements (the claim,
// recent-history and commit statements of services/agent-worker/src/transcript.ts, copied here
// because shared/ never imports a service), with N concurrent callers each driving its own session.
// Prints one JSON line.
//
//   node shared/store/scripts/bench-query.ts                 PGlite in a worker thread (the default)
//   node shared/store/scripts/bench-query.ts --in-process    PGlite on the main thread
//   options: --callers 50  --seconds 10  --warmup-seconds 3  --history 20
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
    history: { type: 'string', default: '20' },
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

const { openDatabase } = await import('../src/index.ts');
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

const CLAIM_SQL = `WITH up AS (
   INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id, fence)
   VALUES ($1, $2, $3, $4, $5, $6, 1)
   ON CONFLICT (id) DO UPDATE SET fence = sessions.fence + 1, updated_at = now()
   RETURNING fence
 )
 SELECT (SELECT fence FROM up) AS fence, (SELECT reply_text FROM turns WHERE id = $7) AS reply_text`;
const RECENT_SQL = `SELECT role, content, tool_calls, tool_call_id, tokens FROM messages WHERE session_id = $1 ORDER BY seq DESC LIMIT $2`;
const COMMIT_SQL = `WITH s AS (
   SELECT id FROM sessions WHERE id = $1 AND fence = $2 FOR UPDATE
 ), t AS (
   INSERT INTO turns (id, session_id, fence, inbound_ids, reply_text, model, prompt_tokens, completion_tokens)
   SELECT $3, s.id, $2, $4::text[], $5, $6, $7, $8 FROM s
   ON CONFLICT (id) DO NOTHING
   RETURNING id
 ), base AS (
   SELECT coalesce(max(seq), 0) AS seq FROM messages WHERE session_id = $1
 ), m AS (
   INSERT INTO messages (session_id, seq, turn_id, role, content, tool_calls, tool_call_id, source_id, user_id, tokens)
   SELECT $1, base.seq + r.ord, $3, r.role, r.content, r.tool_calls, r.tool_call_id, r.source_id, r.user_id, r.tokens
   FROM t, base, jsonb_to_recordset($9::jsonb)
     AS r(ord int, role text, content text, tool_calls jsonb, tool_call_id text, source_id text, user_id text, tokens int)
   RETURNING 1
 )
 SELECT (SELECT count(*) FROM s) AS fenced_ok, (SELECT count(*) FROM t) AS inserted, (SELECT count(*) FROM m) AS written`;

type Kind = 'claim' | 'recent' | 'commit' | 'turn';
const latencies: Record<Kind, number[]> = { claim: [], recent: [], commit: [], turn: [] };
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

/** The three statements of one turn; 'turn' latency (claim start → commit end) includes queueing either way. */
async function turnStatements(db: Db, session: string): Promise<void> {
  const turnId = `turn-${process.pid}-${++turnCounter}`;
  const claimed = await timed('claim', () =>
    db.query<{ fence: number }>(CLAIM_SQL, [session, 'web', 'bench', session, null, 'user-1', turnId]),
  );
  const fence = Number(claimed.rows[0]!.fence);
  await timed('recent', () => db.query(RECENT_SQL, [session, history]));
  // The real turn talks to Redis and the model between statements: the event loop gets a turn.
  await (modelMs > 0 ? sleep(modelMs) : yieldToLoop());
  if (mainWorkMs > 0) spin(mainWorkMs);
  await yieldToLoop();
  const rows = [
    { ord: 1, role: 'user', content: `question ${turnCounter}: ${'lorem ipsum '.repeat(8)}`, tool_calls: null, tool_call_id: null, source_id: `in-${turnId}`, user_id: 'user-1', tokens: 30 },
    { ord: 2, role: 'assistant', content: `answer: ${'dolor sit amet '.repeat(12)}`, tool_calls: null, tool_call_id: null, source_id: null, user_id: null, tokens: 60 },
  ];
  const committed = await timed('commit', () =>
    db.query<{ inserted: number }>(COMMIT_SQL, [session, fence, turnId, [`in-${turnId}`], rows[1]!.content, 'bench-model', 100, 60, JSON.stringify(rows)]),
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

const queries = turns * 3;
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
    latencyMs: { turn: stats('turn'), claim: stats('claim'), recent: stats('recent'), commit: stats('commit') },
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
