// Builds the one-process system (src/main.ts and everything it imports) into a few ES modules
// under node_modules/.cache/switchboard-bundle/, for `npm start`. Run by src/bundle.ts in a child
// process when the bundle is missing or out of date, so rolldown never loads into the system's
// own process; also `node src/bundle-build.ts` (the all-in-one image runs it at build), or
// `node src/bundle-build.ts --out <dir>` to build somewhere else in the checkout (tests): the
// libraries left outside the bundle are imported by name, so they resolve from where it lies.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rolldown, type Plugin } from 'rolldown';
import { BUNDLE_DIR, BUNDLE_FORMAT, ROOT, fingerprint, type BundleManifest } from './bundle.ts';

/**
 * Packages left to Node's own loader: PGlite and pgvector find their WebAssembly and data files
 * next to their modules; msgpackr picks its native addon at run time; the channel SDKs, node-
 * postgres and the MCP SDK load only when configured; pino starts transports from files.
 */
const EXTERNAL = [
  /^@electric-sql\//,
  /^msgpackr/,
  /^node-gyp-build/,
  /^pg(-|$)/,
  /^grammy/,
  /^@grammyjs\//,
  /^discord\.js/,
  /^@discordjs\//,
  /^@slack\//,
  /^@modelcontextprotocol\//,
  /^pino(-|$)/,
  /^thread-stream/,
  /^sonic-boom/,
];

/** Bundles older than this that are not the current one are deleted (a running system may still load chunks of its own). */
const KEEP_OLD_MS = 24 * 60 * 60 * 1000;
const STAGING_MS = 10 * 60 * 1000;

/**
 * Our modules find files next to themselves (migrations, the chat page, the PGlite worker) from
 * `import.meta.url`: each keeps its own source file's URL, not the chunk's.
 */
const sourceUrls: Plugin = {
  name: 'switchboard-source-urls',
  transform(code: string, id: string) {
    if (id.includes('/node_modules/') || !code.includes('import.meta.url')) return null;
    return { code: code.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(id).href)) };
  },
};

/** The package.json of the library a module belongs to, or undefined for our own modules. */
function packageManifest(file: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = file.lastIndexOf(marker);
  if (at === -1) return undefined;
  const rest = file.slice(at + marker.length).split(sep);
  const name = rest[0]?.startsWith('@') ? rest.slice(0, 2) : rest.slice(0, 1);
  return join(file.slice(0, at + marker.length), ...name, 'package.json');
}

/** The package.json nearest above one of our modules. */
function ownManifest(file: string): string {
  for (let dir = dirname(file); dir.startsWith(ROOT); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'package.json');
  }
  return join(ROOT, 'package.json');
}

async function build(bundleDir: string): Promise<{ id: string; modules: number; ms: number }> {
  const started = performance.now();
  const bundle = await rolldown({
    input: { main: join(ROOT, 'src/main.ts') },
    platform: 'node',
    external: (id) => id.startsWith('node:') || EXTERNAL.some((pattern) => pattern.test(id)),
    plugins: [sourceUrls],
    logLevel: 'silent',
  });
  mkdirSync(bundleDir, { recursive: true });
  const staging = join(bundleDir, `.building-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const { output } = await bundle.write({
    dir: staging,
    format: 'esm',
    entryFileNames: '[name].mjs',
    chunkFileNames: '[name]-[hash].mjs',
    // Class names as written: some libraries compare `constructor.name`.
    keepNames: true,
  });
  await bundle.close();
  // What the bundle was made of: our modules, and each library's package.json (a reinstall or an
  // upgrade rewrites it), so that a change to any of them rebuilds. Checked at every start: a
  // file per library instead of its ~900 modules keeps the check at a few milliseconds.
  const modules = new Set<string>([
    fileURLToPath(import.meta.url),
    fileURLToPath(new URL('./bundle.ts', import.meta.url)),
    join(ROOT, 'package.json'),
  ]);
  // npm's record of what it installed, rewritten by every install (absent after other installers).
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  if (existsSync(installed)) modules.add(installed);
  for (const chunk of output) {
    if (chunk.type !== 'chunk') continue;
    for (const id of chunk.moduleIds) {
      if (!isAbsolute(id)) continue;
      const manifest = packageManifest(id);
      if (manifest) modules.add(manifest);
      else modules.add(id).add(ownManifest(id)); // a workspace's exports map decides what its imports load
    }
  }
  const inputs: BundleManifest['inputs'] = [...modules].sort().map((file) => [file, ...fingerprint(file)]);
  const id = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
  const final = join(bundleDir, id);
  try {
    renameSync(staging, final);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another start built the same bundle meanwhile
  }
  const current = join(bundleDir, 'current.json');
  const manifest: BundleManifest = { format: BUNDLE_FORMAT, root: ROOT, id, inputs };
  writeFileSync(`${current}.${process.pid}`, JSON.stringify(manifest));
  renameSync(`${current}.${process.pid}`, current);
  for (const entry of readdirSync(bundleDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === id) continue;
    const dir = join(bundleDir, entry.name);
    // A staging dir is another build's for a moment, or what a build that died left.
    const keepMs = entry.name.startsWith('.building-') ? STAGING_MS : KEEP_OLD_MS;
    if (Date.now() - statSync(dir).mtimeMs > keepMs) rmSync(dir, { recursive: true, force: true });
  }
  return { id, modules: inputs.length, ms: Math.round(performance.now() - started) };
}

const { values } = parseArgs({ options: { out: { type: 'string' } } });
try {
  const result = await build(values.out ? resolve(values.out) : BUNDLE_DIR);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  // One line, for the start that asked (src/bundle.ts) to quote.
  process.stderr.write(`${(err as Error).message.replaceAll('\n', ' ')}\n`);
  process.exitCode = 1;
}
