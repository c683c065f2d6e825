// `npm start` runs the system from a bundle of its sources: ~1,100 modules (ours and the
// libraries') become a few dozen, which Node loads with far less work. The bundle is rebuilt
// (src/bundle-build.ts, in a child process) whenever a file it was made of changed; without it,
// or with SWITCHBOARD_BUNDLE=off, the system runs from its sources as every service does alone.
// Node built-ins only: this runs before anything else of `npm start`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BUNDLE_DIR = join(ROOT, 'node_modules', '.cache', 'switchboard-bundle');
/** Changes when current.json changes shape. */
export const BUNDLE_FORMAT = 1;

/** `current.json`: which build is current, and what it was made of. */
export interface BundleManifest {
  format: number;
  /** The checkout it was built from: our modules keep their source file's absolute URL. */
  root: string;
  /** The build's directory under the bundle dir. */
  id: string;
  inputs: Array<[file: string, mtimeMs: number, size: number]>;
}

/** What decides whether a file changed: its modification time and size. */
export function fingerprint(file: string): [mtimeMs: number, size: number] {
  const stats = statSync(file);
  return [stats.mtimeMs, stats.size];
}

/** The bundle's entry URL when it is there and every file it was made of is as it was then; else undefined. */
export function currentBundle(dir: string = BUNDLE_DIR): string | undefined {
  let current: Partial<BundleManifest> | null;
  try {
    current = JSON.parse(readFileSync(join(dir, 'current.json'), 'utf8')) as Partial<BundleManifest> | null;
  } catch {
    return undefined;
  }
  if (current?.format !== BUNDLE_FORMAT || current.root !== ROOT || !Array.isArray(current.inputs) || typeof current.id !== 'string') return undefined;
  for (const [file, mtimeMs, size] of current.inputs) {
    try {
      const [m, s] = fingerprint(file);
      if (m !== mtimeMs || s !== size) return undefined;
    } catch {
      return undefined; // deleted or moved
    }
  }
  // The build itself may have been deleted by hand: then it is built again, not imported and missed.
  const entry = join(dir, current.id, 'main.mjs');
  return existsSync(entry) ? pathToFileURL(entry).href : undefined;
}

/**
 * The entry `npm start` should import: the bundle, built first when it is out of date, or
 * undefined (run the sources) when SWITCHBOARD_BUNDLE=off or the build failed (said on stderr).
 * Throws on any other value of SWITCHBOARD_BUNDLE.
 */
export function bundledEntry(env: NodeJS.ProcessEnv, dir: string = BUNDLE_DIR): string | undefined {
  const mode = env.SWITCHBOARD_BUNDLE ?? 'on';
  if (mode === 'off') return undefined;
  if (mode !== 'on') throw new Error(`SWITCHBOARD_BUNDLE must be "on" or "off", not ${JSON.stringify(mode)}`);
  const fresh = currentBundle(dir);
  if (fresh) return fresh;
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('./bundle-build.ts', import.meta.url)), '--out', dir], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const built = build.status === 0 ? currentBundle(dir) : undefined;
  if (built) {
    process.stderr.write(`switchboard: bundled the sources for npm start (${build.stdout.trim()})\n`);
    return built;
  }
  const why = build.error?.message ?? (build.stderr.trim().split('\n').at(-1) || `exit ${build.status}`);
  process.stderr.write(`switchboard: could not bundle the sources (${why}); running from the sources\n`);
  return undefined;
}
