import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { PGlite, PGliteOptions } from '@electric-sql/pglite';

const require = createRequire(import.meta.url);

/** The installed pglite `dist/` directory (its exports map hides package.json, so resolve the entry). */
function pgliteDistDir(): string {
  return dirname(require.resolve('@electric-sql/pglite'));
}

function packageVersion(distDir: string): string {
  const pkg = JSON.parse(readFileSync(join(distDir, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Versions that change the on-disk format or the template's contents. */
export function engineVersions(): { pglite: string; pgvector: string } {
  return {
    pglite: packageVersion(pgliteDistDir()),
    pgvector: packageVersion(dirname(require.resolve('@electric-sql/pglite-pgvector'))),
  };
}

/** The `node_modules` folder that holds pglite, where build caches conventionally live. */
export function nodeModulesDir(): string | undefined {
  const dist = pgliteDistDir();
  const marker = `${sep}node_modules${sep}`;
  const at = dist.lastIndexOf(marker);
  return at === -1 ? undefined : dist.slice(0, at + marker.length - 1);
}

type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;
// The project's `lib` has no DOM/WebAssembly typings; Node has the global all the same.
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } })
  .WebAssembly;

let compiled: Promise<WasmModule> | undefined;

/**
 * Postgres' wasm, compiled once per thread and shared by every PGlite instance of that thread (V8
 * also shares the compiled code between threads). Kept for the life of the thread: a running
 * instance holds the same code anyway, and dropping the Module would only make the next open
 * recompile.
 */
function pgliteWasmModule(): Promise<WasmModule> {
  compiled ??= wasm.compile(readFileSync(join(pgliteDistDir(), 'pglite.wasm')));
  return compiled;
}

/**
 * Loads PGlite's modules and compiles its WebAssembly, so that a {@link createPglite} that follows
 * (once its data dir is ready) only has to start Postgres. Chooses no tier-up setting.
 */
export function warmPglite(): Promise<unknown> {
  return Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-pgvector'), pgliteWasmModule()]);
}

/** A function index no module has: V8 then optimises no WebAssembly function at all. */
const NO_FUNCTION = 2_000_000_000;

/** Whether this thread has chosen yet; until then a PGlite start chooses "off". */
let tierUpChosen = false;

/**
 * Whether V8 may re-compile hot WebAssembly functions with its optimising compiler (TurboFan).
 * Process-wide (a V8 flag), last call wins. Besides PGlite, the only WebAssembly in the process is
 * Node's own type stripper, which runs briefly at import time either way.
 *
 * Off by default because of one function: Postgres' largest hot function (~105 KB of wasm) takes
 * TurboFan ~2 s of CPU and ~600 MB of compiler memory a few seconds after start (process RSS
 * measured at ~720 MiB), and the optimised code plus what malloc keeps of that memory leave RSS
 * ~50 MiB higher at idle and ~90 MiB higher after sustained load. The price of staying on V8's
 * baseline compiler (Liftoff): ~15% more CPU per query once TurboFan would have finished.
 */
export function setWasmTierUp(enabled: boolean): void {
  setFlagsFromString(`--wasm-tier-up-filter=${enabled ? -1 : NO_FUNCTION}`);
  tierUpChosen = true;
}

/**
 * PGlite is one backend (the embedded server multiplexes its clients onto it), but Postgres sizes
 * its lock and process tables by max_connections (default 100); 8 saves ~2 MiB of touched memory.
 * The shared lock table still holds ~1,400 locks (one transaction creating 3,000 tables passed).
 */
const MAX_CONNECTIONS = 8;

/**
 * Default PGlite `shared_buffers` in MB: 128 MB (Postgres' default) adds ~0.5 s to every start, and
 * Postgres touches the whole pool when it starts (measured: 16 MB → 8 MB is ~10 MiB less RSS). The
 * data files sit in the OS page cache anyway, so a buffer miss costs a read syscall, not a disk read.
 */
export const DEFAULT_SHARED_BUFFERS_MB = 8;

/**
 * Starts PGlite on an existing or empty data directory with pgvector loaded. An empty directory
 * runs initdb (seconds); callers normally fill it from the template first. `wasmTierUp` (see
 * {@link setWasmTierUp}) defaults to off unless this thread chose already.
 */
export async function createPglite(opts: { dataDir: string; sharedBuffersMb?: number; wasmTierUp?: boolean }): Promise<PGlite> {
  if (opts.wasmTierUp !== undefined) setWasmTierUp(opts.wasmTierUp);
  else if (!tierUpChosen) setWasmTierUp(false);
  const [{ PGlite }, { vector }, wasmModule] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    pgliteWasmModule(),
  ]);
  const sharedBuffersMb = opts.sharedBuffersMb ?? DEFAULT_SHARED_BUFFERS_MB;
  return PGlite.create({
    dataDir: opts.dataDir,
    extensions: { vector },
    pgliteWasmModule: wasmModule,
    startParams: [
      ...PGlite.defaultStartParams,
      '-c',
      `shared_buffers=${sharedBuffersMb}MB`,
      '-c',
      `max_connections=${MAX_CONNECTIONS}`,
      // Statements are kept prepared (see PgliteSession), and each execution is planned for its
      // own values unless the statement carries GENERIC_PLAN_MARK (runPrepared switches the mode).
      '-c',
      'plan_cache_mode=force_custom_plan',
    ],
    // Only used when the dir is empty. 1 MB WAL segments instead of 16 MB keep the snapshot small
    // (cheaper to copy on every first start); Postgres accepts any power of two from 1 to 1024.
    initDbStartParams: ['--wal-segsize=1'],
  });
}
