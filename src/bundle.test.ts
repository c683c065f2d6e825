import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BUNDLE_FORMAT, bundledEntry, currentBundle, fingerprint, ROOT, type BundleManifest } from './bundle.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-bundle-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A bundle dir whose current build was made of one file, `input`. */
async function bundleOf(input: string, manifest: Partial<BundleManifest> = {}) {
  const dir = await tempDir();
  const current: BundleManifest = { format: BUNDLE_FORMAT, root: ROOT, id: 'b1', inputs: [[input, ...fingerprint(input)]], ...manifest };
  await writeFile(join(dir, 'current.json'), JSON.stringify(current));
  await mkdir(join(dir, current.id));
  await writeFile(join(dir, current.id, 'main.mjs'), '');
  return dir;
}

describe('currentBundle', () => {
  it('is the current build while every file it was made of is unchanged', async () => {
    const input = join(await tempDir(), 'a.ts');
    await writeFile(input, 'export const a = 1;\n');
    const dir = await bundleOf(input);
    expect(currentBundle(dir)).toBe(pathToFileURL(join(dir, 'b1', 'main.mjs')).href);
  });

  it('is out of date when its build is gone', async () => {
    const input = join(await tempDir(), 'a.ts');
    await writeFile(input, 'x');
    const dir = await bundleOf(input);
    await rm(join(dir, 'b1'), { recursive: true });
    expect(currentBundle(dir)).toBeUndefined();
  });

  it('is out of date when a file changed, by time or by size, or is gone', async () => {
    const input = join(await tempDir(), 'a.ts');
    await writeFile(input, 'export const a = 1;\n');
    const mtime = new Date('2026-11-28T01:00:00Z'); // whole milliseconds, so that it can be put back exactly
    await utimes(input, mtime, mtime);
    const dir = await bundleOf(input);

    await utimes(input, mtime, new Date(mtime.getTime() + 1000));
    expect(currentBundle(dir)).toBeUndefined();
    await utimes(input, mtime, mtime);
    expect(currentBundle(dir)).toBeDefined();

    await writeFile(input, 'export const a = 22;\n');
    await utimes(input, mtime, mtime); // same time, other size
    expect(currentBundle(dir)).toBeUndefined();

    await rm(input);
    expect(currentBundle(dir)).toBeUndefined();
  });

  it('is out of date when built from another checkout or in another format, and without a readable current.json', async () => {
    const input = join(await tempDir(), 'a.ts');
    await writeFile(input, 'x');
    expect(currentBundle(await bundleOf(input, { root: '/elsewhere/' }))).toBeUndefined();
    expect(currentBundle(await bundleOf(input, { format: BUNDLE_FORMAT + 1 }))).toBeUndefined();
    const broken = await tempDir();
    await writeFile(join(broken, 'current.json'), '{"format":');
    expect(currentBundle(broken)).toBeUndefined();
    expect(currentBundle(await tempDir())).toBeUndefined();
  });
});

describe('bundledEntry', () => {
  it('runs from the sources with SWITCHBOARD_BUNDLE=off, and refuses any other value but on', async () => {
    const input = join(await tempDir(), 'a.ts');
    await writeFile(input, 'x');
    const dir = await bundleOf(input);
    expect(bundledEntry({ SWITCHBOARD_BUNDLE: 'off' }, dir)).toBeUndefined();
    expect(bundledEntry({ SWITCHBOARD_BUNDLE: 'on' }, dir)).toBe(currentBundle(dir));
    expect(bundledEntry({}, dir)).toBe(currentBundle(dir));
    expect(() => bundledEntry({ SWITCHBOARD_BUNDLE: 'yes' }, dir)).toThrow('SWITCHBOARD_BUNDLE must be "on" or "off", not "yes"');
  });

  it('says why and runs from the sources when the bundle cannot be built', async () => {
    const file = join(await tempDir(), 'a-file');
    await writeFile(file, 'x');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(bundledEntry({ ...process.env, SWITCHBOARD_BUNDLE: 'on' }, join(file, 'bundle'))).toBeUndefined();
    expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toMatch(/could not bundle the sources \(.*ENOTDIR.*\); running from the sources/);
  }, 60_000);

  it('builds the bundle when it is out of date, from every module main.ts loads, and reuses it while nothing changed', async () => {
    const dir = await tempDir();
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const entry = bundledEntry({ ...process.env, SWITCHBOARD_BUNDLE: 'on' }, dir);
    expect(entry).toBe(currentBundle(dir));
    expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toContain('bundled the sources for npm start');
    const current = JSON.parse(await readFile(join(dir, 'current.json'), 'utf8')) as BundleManifest;
    const files = current.inputs.map(([file]) => file.slice(ROOT.length));
    // Our modules (the services' too), each library's package.json, and the build's own code.
    expect(files).toEqual(
      expect.arrayContaining([
        'src/main.ts',
        'src/system.ts',
        'src/bundle.ts',
        'src/bundle-build.ts',
        'services/web/src/app.ts',
        'services/agent-worker/src/turn-runner.ts',
        'shared/lanes/package.json',
        'node_modules/bullmq/package.json',
        'node_modules/.package-lock.json',
      ]),
    );
    expect(files.filter((file) => file.includes('node_modules/bullmq/dist'))).toEqual([]);
    // PGlite stays with Node's loader: it finds its WebAssembly next to its modules.
    expect(files.some((file) => file.includes('@electric-sql'))).toBe(false);
    stderr.mockClear();
    expect(bundledEntry({ ...process.env, SWITCHBOARD_BUNDLE: 'on' }, dir)).toBe(entry);
    expect(stderr).not.toHaveBeenCalled();
  }, 60_000);
});
