import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tryLock, unlock } from './pid-lock.ts';

/**
 * The data dir lock must admit one process, also when several start at once after a crash left
 * the lock of a dead process behind (SIGKILL, OOM kill: exactly when a lock is left): two PGlite
 * processes on one data dir corrupt it.
 */
let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sb-pid-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A pid no process has (above the kernel's pid_max). */
const DEAD_PID = 4_194_305;

const CHILD = `
import { tryLock } from ${JSON.stringify(new URL('./pid-lock.ts', import.meta.url).href)};
const [path, startAt] = [process.argv[2], Number(process.argv[3])];
while (Date.now() < startAt) {} // all contenders call tryLock at the same moment
process.stdout.write(JSON.stringify(tryLock(path)));
setTimeout(() => process.exit(0), 1500); // hold it while the others try
`;

async function contend(childPath: string, lockPath: string, processes: number): Promise<number> {
  const startAt = Date.now() + 1500; // after every child has started
  const outs = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [childPath, lockPath, String(startAt)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('error', reject);
          child.on('exit', () => resolve(out));
        }),
    ),
  );
  return outs.filter((o) => o.includes('"ok":true')).length;
}

describe('tryLock', () => {
  it('gives a stale lock to exactly one of several processes starting at once', async () => {
    const childPath = join(root, 'child.ts');
    await writeFile(childPath, CHILD);
    const holders: number[] = [];
    for (let round = 0; round < 6; round++) {
      const lockPath = join(root, `lock-${round}`);
      await writeFile(lockPath, String(DEAD_PID)); // left by a process that was killed
      holders.push(await contend(childPath, lockPath, 6));
    }
    expect(holders).toEqual([1, 1, 1, 1, 1, 1]);
  }, 60_000);

  it('does not take over a lock whose holder has created it but not yet written its pid', async () => {
    const lockPath = join(root, 'lock');
    await writeFile(lockPath, ''); // another process between its open(wx) and its write
    expect(tryLock(lockPath)).toEqual({ ok: false, holder: -1 });
  });

  it('still takes over the lock of a dead process, and releases it', async () => {
    const lockPath = join(root, 'lock');
    await writeFile(lockPath, String(DEAD_PID));
    expect(tryLock(lockPath)).toEqual({ ok: true });
    expect(tryLock(lockPath)).toEqual({ ok: false, holder: process.pid });
    unlock(lockPath);
    expect(tryLock(lockPath)).toEqual({ ok: true });
    unlock(lockPath);
  });
});
