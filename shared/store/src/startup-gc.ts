import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc()` as `--expose-gc` defines it (Node ≥ 22 takes these options). */
type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * Gives back the memory a start-up leaves behind, in the calling thread: one full collection of
 * V8's memory-reducing ("last resort") flavour, which also shrinks the young generation to its
 * minimum. Loading and wiring the modules grows the young generation to its maximum and leaves
 * an old generation sized for that peak; without this the thread keeps both resident until V8's
 * memory reducer decides it is idle. Under load the young generation grows back as far as
 * `--max-semi-space-size` allows.
 *
 * Light on purpose (PGlite's worker thread uses it too). Call once, when the thread's start is
 * over: the collection blocks its event loop for as long as it takes, which it returns (ms).
 */
export function collectStartupGarbage(): number {
  const gc = exposedGc();
  const started = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return performance.now() - started;
}

/** How long after a service is up {@link collectStartupGarbageSoon} collects by default. */
export const STARTUP_GARBAGE_DELAY_MS = 500;

/**
 * Runs {@link collectStartupGarbage} once, `delayMs` from now (the timer does not keep the process
 * alive), and hands its duration to `done`. Services call it once they are up: a service's idle
 * RSS drops by ~30 MiB (the agent worker and web service started on their own: ~142-146 → ~110-112
 * MiB in `npm run bench:scale`).
 */
export function collectStartupGarbageSoon(done?: (ms: number) => void, delayMs = STARTUP_GARBAGE_DELAY_MS): void {
  setTimeout(() => {
    const ms = collectStartupGarbage();
    done?.(ms);
  }, delayMs).unref();
}

let exposed: GcFunction | undefined;

function exposedGc(): GcFunction {
  if (exposed) return exposed;
  const global = (globalThis as { gc?: GcFunction }).gc;
  if (global) return (exposed = global);
  // `--expose-gc` set at run time applies to contexts created afterwards: take `gc` from a fresh
  // one and leave this context's globals as they were.
  setFlagsFromString('--expose-gc');
  exposed = runInNewContext('gc') as GcFunction;
  return exposed;
}
