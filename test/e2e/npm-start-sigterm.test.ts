import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { npmStartCommand } from '@switchboard/testkit';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const redisChild = (pid: number): number | undefined => {
  try {
    const out = execFileSync('pgrep', ['-P', String(pid), 'redis-server'], { encoding: 'utf8' }).trim();
    return out ? Number(out.split('\n')[0]) : undefined;
  } catch {
    return undefined;
  }
};

describe('npm start, SIGTERM while starting', () => {
  it('stops the private redis-server it started instead of leaving it behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-probe-sigterm-'));
    await chmod(dir, 0o755);
    dirs.push(dir);
    const cmd = await npmStartCommand(ROOT);
    const env: Record<string, string> = { ...cmd.env, PATH: process.env.PATH ?? '', PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'info', MEMORY_EXTRACTION: 'off' };
    const child = spawn(process.execPath, [...cmd.nodeArgs, cmd.entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let redis: number | undefined;
    const deadline = Date.now() + 30_000;
    while (redis === undefined && Date.now() < deadline && child.exitCode === null) {
      redis = redisChild(child.pid!);
      if (redis === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    expect(redis, out).toBeDefined();
    // The system is still wiring its services: `Switchboard is running` has not been logged.
    child.kill('SIGTERM');
    await exited;
    let stillRunning = alive(redis!);
    for (let i = 0; i < 100 && stillRunning; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stillRunning = alive(redis!);
    }
    if (stillRunning) process.kill(redis!, 'SIGKILL');
    expect(stillRunning, `redis-server ${redis} outlived npm start:\n${out}`).toBe(false);
  });
});
