// Spawning the PGlite worker thread. Also the package's `early-worker` entry: `npm start` imports
// it before anything else, so keep it to Node built-ins and type-only imports.
import { getCompileCacheDir } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { WorkerInit } from './worker-protocol.ts';

const WORKER_URL = new URL('./pglite-worker.ts', import.meta.url);

/**
 * The worker's young generation (V8's nursery), in MB. V8's default lets it grow to 16+ MB under
 * PGlite's allocation rate; 4 MB measured ~20 MiB less RSS after a workload, with throughput
 * within run-to-run noise (the worker's garbage is short-lived: protocol buffers and result rows).
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** Starts `pglite-worker.ts`; with `init` null, where to run comes later as its first message. */
export function spawnWorker(init: WorkerInit | null): Worker {
  // A worker thread does not share the process' compile cache; without it, it would load Node's
  // TypeScript stripper and strip its modules again on every start (~140 ms).
  const compileCache = getCompileCacheDir();
  return new Worker(WORKER_URL, {
    workerData: init,
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    // The worker's environment is the process' own (Node's default) plus the cache; no configuration is read here.
    // eslint-disable-next-line no-restricted-properties
    ...(compileCache ? { env: { ...process.env, NODE_COMPILE_CACHE: compileCache } } : {}),
  });
}

/**
 * A PGlite worker started before its data dir is ready: it loads PGlite and compiles its
 * WebAssembly meanwhile. Hand it to `openDatabase` (option `earlyWorker`) or to
 * `ThreadedPgliteDatabase.start`, or `discard()` it.
 */
export class EarlyWorker {
  readonly worker = spawnWorker(null);
  /** Stops the thread (its data dir never came). */
  async discard(): Promise<void> {
    await this.worker.terminate();
  }
}
