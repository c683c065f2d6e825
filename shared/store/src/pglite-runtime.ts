import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
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

/** Postgres' wasm, compiled once per process and shared by every PGlite instance. */
function pgliteWasmModule(): Promise<WasmModule> {
  compiled ??= wasm.compile(readFileSync(join(pgliteDistDir(), 'pglite.wasm')));
  return compiled;
}

/** Default PGlite `shared_buffers` in MB: 128 MB (Postgres' default) adds ~0.5 s to every start. */
export const DEFAULT_SHARED_BUFFERS_MB = 16;

/**
 * Starts PGlite on an existing or empty data directory with pgvector loaded. An empty directory
 * runs initdb (seconds); callers normally fill it from the template first.
 */
export async function createPglite(opts: { dataDir: string; sharedBuffersMb?: number }): Promise<PGlite> {
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
    startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffersMb}MB`],
    // Only used when the dir is empty. 1 MB WAL segments instead of 16 MB keep the snapshot small
    // (cheaper to copy on every first start); Postgres accepts any power of two from 1 to 1024.
    initDbStartParams: ['--wal-segsize=1'],
  });
}
