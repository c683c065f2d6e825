// Memory of an open PGlite database, printed as one JSON line: process RSS (all threads) and the
// main isolate's `external`, before opening, after open + idle, after a light workload + idle, and
// the peak RSS seen while idling (V8's optimising compiler shows up there, see setWasmTierUp).
//
//   node shared/store/scripts/bench-memory.ts                 PGlite in a worker thread (the default)
//   node shared/store/scripts/bench-memory.ts --in-process    PGlite on the main thread
//   options: --idle-seconds 6  --wasm-tier-up  --shared-buffers-mb 16
//
// Run each variant in a fresh process.
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'in-process': { type: 'boolean', default: false },
    'idle-seconds': { type: 'string', default: '6' },
    'wasm-tier-up': { type: 'boolean', default: false },
    'shared-buffers-mb': { type: 'string' },
  },
});
const idleMs = Number(args['idle-seconds']) * 1000;

const MiB = (n: number) => Math.round((n / 1048576) * 10) / 10;
let peakRss = 0;
function sample(): { rssMiB: number; externalMiB: number; heapUsedMiB: number } {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  return { rssMiB: MiB(m.rss), externalMiB: MiB(m.external), heapUsedMiB: MiB(m.heapUsed) };
}

/** Idles for `ms`, sampling RSS every 100 ms so that a transient peak is seen. */
async function idle(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    sample();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const { openDatabase } = await import('../src/index.ts');
const beforeOpen = sample();
const db = await openDatabase({
  thread: !args['in-process'],
  wasmTierUp: args['wasm-tier-up'],
  ...(args['shared-buffers-mb'] ? { sharedBuffersMb: Number(args['shared-buffers-mb']) } : {}),
});
await idle(idleMs);
const afterOpenIdle = sample();
const peakAfterOpen = MiB(peakRss);

// A light workload: 200 sessions, 2,000 messages, 500 history reads.
await db.query(`insert into sessions (id, platform, account, chat_id)
  select 'mem-' || g, 'web', 'a', 'c' from generate_series(1, 200) as g on conflict do nothing`);
for (let i = 0; i < 2000; i++) {
  await db.query(
    `insert into messages (session_id, seq, turn_id, role, content) values ($1, $2, 't', 'user', repeat('x', 300))`,
    [`mem-${(i % 200) + 1}`, i],
  );
}
for (let i = 0; i < 500; i++) {
  await db.query('select role, content from messages where session_id = $1 order by seq desc limit 20', [`mem-${(i % 200) + 1}`]);
}
await idle(idleMs);
const afterWorkIdle = sample();
await db.close();

console.log(
  JSON.stringify({
    backend: args['in-process'] ? 'in-process' : 'worker-thread',
    node: process.version,
    wasmTierUp: args['wasm-tier-up'],
    sharedBuffersMb: args['shared-buffers-mb'] ? Number(args['shared-buffers-mb']) : 16,
    beforeOpen,
    afterOpenIdle,
    afterWorkIdle,
    peakRssMiB: { afterOpen: peakAfterOpen, overall: MiB(peakRss) },
  }),
);
