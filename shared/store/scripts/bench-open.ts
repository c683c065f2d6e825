// Start-up timings of openDatabase(), printed as one JSON line:
//   node shared/store/scripts/bench-open.ts            snapshot cached (the normal case)
//   node shared/store/scripts/bench-open.ts --no-cache  snapshot built first (fresh install)
// Run it in a fresh process: the first open includes loading PGlite and compiling its wasm.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const t0 = performance.now();
const { openDatabase } = await import('../src/index.ts');
const importMs = performance.now() - t0;
const root = mkdtempSync(join(tmpdir(), 'sb-bench-'));
const templateCacheDir = process.argv.includes('--no-cache') ? join(root, 'cache') : undefined;

async function time(opts: { dataDir?: string }): Promise<number> {
  const started = performance.now();
  const db = await openDatabase({ ...opts, ...(templateCacheDir ? { templateCacheDir } : {}) });
  const elapsed = performance.now() - started;
  await db.query('select 1');
  await db.close();
  return Math.round(elapsed);
}

try {
  const result = {
    importMs: Math.round(importMs),
    coldEmptyDirMs: await time({ dataDir: join(root, 'a') }),
    warmEmptyDirMs: await time({ dataDir: join(root, 'b') }),
    reopenMs: await time({ dataDir: join(root, 'b') }),
    ephemeralMs: await time({}),
    processUptimeMs: Math.round(process.uptime() * 1000),
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(root, { recursive: true, force: true });
}
