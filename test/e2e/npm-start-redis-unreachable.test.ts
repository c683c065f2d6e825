import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, npmStartCommand } from '@switchboard/testkit';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('npm start with an unreachable REDIS_URL', () => {
  it('says so and exits 1 (as for an unreachable DATABASE_URL) instead of hanging, without echoing the password', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-probe-redis-'));
    await chmod(dir, 0o755);
    dirs.push(dir);
    const cmd = await npmStartCommand(ROOT);
    const env: Record<string, string> = {
      ...cmd.env,
      PATH: process.env.PATH ?? '',
      PORT: '0',
      DATA_DIR: dir,
      LOG_LEVEL: 'info',
      REDIS_URL: `redis://:probe-secret-pw@127.0.0.1:${await freePort()}`,
    };
    const child = spawn(process.execPath, [...cmd.nodeArgs, cmd.entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code, out.slice(-3000)).toBe(1);
    expect(out).toMatch(/Switchboard could not start: .*Redis/);
    expect(out).not.toContain('probe-secret-pw');
  }, 45_000);
});
