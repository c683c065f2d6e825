import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bundledEntry } from '../../src/bundle.ts';
import { echoScript, freePort, npmStartCommand, startFakeOpenAI, uniquePrefix, waitFor, type FakeOpenAI, type NpmStartCommand } from '@switchboard/testkit';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `npm start` read from package.json (its environment settings, node flags and entry), so this runs exactly what users run. */
const npmStart = () => npmStartCommand(ROOT);

function start(cmd: NpmStartCommand, env: Record<string, string>) {
  const child = spawn(process.execPath, [...cmd.nodeArgs, cmd.entry], { cwd: ROOT, env: { LOG_LEVEL: 'info', HOST: '127.0.0.1', ...cmd.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': it comes after the child's output has all been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

let model: FakeOpenAI;
const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-npm-start-'));
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
};

/** The whole system with the fake model, on `port` and an empty DATA_DIR. */
const systemEnv = async (port: number, prefix: string): Promise<Record<string, string>> => ({
  PATH: process.env.PATH ?? '',
  PORT: String(port),
  DATA_DIR: await tempDir(),
  REDIS_URL: inject('redisUrl'),
  SWITCHBOARD_PREFIX: uniquePrefix(prefix),
  OPENAI_BASE_URL: model.url,
  OPENAI_API_KEY: 'k',
  LLM_MODEL: 'fake-model',
  MEMORY_EXTRACTION: 'off',
});

/** Waits for `/readyz` 200, failing at once with the output if the process exits first; then asks one chat completion. */
async function readyAndAnswering(sys: ReturnType<typeof start>, port: number, text: string): Promise<void> {
  await waitFor(async () => {
    if (sys.child.exitCode !== null) throw new Error(`exited: ${sys.output()}`);
    return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
  }, { timeoutMs: 30_000, message: 'ready' });
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-session-id': text.replace(/[^a-z0-9]+/gi, '-') },
    body: JSON.stringify({ messages: [{ role: 'user', content: text }] }),
  });
  expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe(`echo: ${text}`);
}

beforeAll(async () => {
  model = await startFakeOpenAI({ script: echoScript });
});
afterAll(async () => {
  await model?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('starts the whole system on an empty DATA_DIR, answers, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const sys = start(await npmStart(), await systemEnv(port, 'npmstart'));
    try {
      await readyAndAnswering(sys, port, 'are you up');
      // /readyz answers once the database does, which can be a moment before the start-up line
      // is logged and reaches this pipe.
      await waitFor(() => sys.output().includes('Switchboard is running at'), { timeoutMs: 5000, message: 'the start-up line' });
    } finally {
      sys.child.kill('SIGTERM');
    }
    expect(await sys.exited).toBe(0);
    expect(sys.output()).toContain('shutdown complete');
  }, 60_000);

  it('stops when npm itself gets SIGTERM (the script execs node, so no node process is left behind)', async () => {
    const port = await freePort();
    const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { LOG_LEVEL: 'info', HOST: '127.0.0.1', ...(await systemEnv(port, 'npmsig')) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const sys = { child, exited: new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code))), output: () => out };
    try {
      await readyAndAnswering(sys, port, 'via npm');
    } finally {
      child.kill('SIGTERM');
    }
    await sys.exited;
    await waitFor(() => out.includes('shutdown complete'), { timeoutMs: 15_000, message: 'the system shuts down' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined)) === undefined, { timeoutMs: 15_000, message: 'nothing answers any more' });
  }, 90_000);

  it('runs from the bundle of its sources, which answers like the sources do', async () => {
    // The bundle `npm start` imports (src/bundle.ts), built here into a dir of this test's own:
    // in the checkout, like the real one, so that the libraries left outside it resolve.
    const bundleDir = await mkdtemp(join(ROOT, 'node_modules', '.cache', 'sb-bundle-test-'));
    dirs.push(bundleDir);
    const entry = bundledEntry({ ...process.env, SWITCHBOARD_BUNDLE: 'on' }, bundleDir);
    expect(entry).toBeDefined();
    const cmd = await npmStart();
    const port = await freePort();
    const sys = start({ ...cmd, entry: fileURLToPath(entry!) }, await systemEnv(port, 'bundle'));
    try {
      await readyAndAnswering(sys, port, 'bundled?');
      // The web chat page and the operator console are files beside their modules' sources.
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/console/`)).status).toBe(200);
    } finally {
      sys.child.kill('SIGTERM');
    }
    expect(await sys.exited).toBe(0);
    expect(sys.output()).toContain('shutdown complete');
  }, 90_000);

  it('exits with a clear message when SWITCHBOARD_BUNDLE is neither on nor off', async () => {
    const sys = start(await npmStart(), { PATH: process.env.PATH ?? '', PORT: String(await freePort()), DATA_DIR: await tempDir(), SWITCHBOARD_BUNDLE: 'maybe' });
    expect(await sys.exited).toBe(1);
    expect(sys.output()).toContain('Switchboard could not start: SWITCHBOARD_BUNDLE must be "on" or "off", not "maybe"');
  }, 60_000);

  it('exits with one clear line, no stack trace, when a setting is invalid; a service run on its own too', async () => {
    const sys = start(await npmStart(), { PATH: process.env.PATH ?? '', PORT: 'abc', DATA_DIR: await tempDir(), REDIS_URL: 'http://user:hunter2@example.invalid' });
    expect(await sys.exited).toBe(1);
    expect(sys.output()).toMatch(/Switchboard could not start: invalid configuration: .*REDIS_URL: must be a redis/);
    expect(sys.output()).toMatch(/Switchboard could not start: invalid configuration: .*PORT: /);
    expect(sys.output()).not.toMatch(/\n\s+at /); // no stack frames
    expect(sys.output()).not.toContain('hunter2');
    const web = spawn(process.execPath, ['services/web/src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: 'abc' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    web.stdout.on('data', (d: Buffer) => (out += d.toString()));
    web.stderr.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((resolve) => web.once('close', resolve))).toBe(2);
    expect(out).toMatch(/web could not start: invalid configuration: PORT/);
    expect(out).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('exits with a clear message when there is no Redis: no REDIS_URL and no redis-server on PATH', async () => {
    const sys = start(await npmStart(), { PATH: '/nonexistent', PORT: String(await freePort()), DATA_DIR: await tempDir() });
    expect(await sys.exited).toBe(1);
    expect(sys.output()).toMatch(/no Redis: REDIS_URL is not set and a private redis-server could not be started/);
  }, 60_000);

  it('exits with a clear message, after wiring the services, when the embedded database cannot open', async () => {
    const dataDir = await tempDir();
    await mkdir(join(dataDir, 'pglite'));
    await writeFile(join(dataDir, 'pglite', 'not-a-database.txt'), 'x');
    const port = await freePort();
    const sys = start(await npmStart(), { PATH: process.env.PATH ?? '', PORT: String(port), DATA_DIR: dataDir, REDIS_URL: inject('redisUrl'), SWITCHBOARD_PREFIX: uniquePrefix('npmstart') });
    expect(await sys.exited).toBe(1);
    expect(sys.output()).toMatch(/Switchboard could not start: PGlite data dir .* is not empty and holds no database/);
    expect(sys.output()).not.toContain('Switchboard is running at');
  }, 60_000);
});
