import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertWithinQuota, remainingBytes, workspaceUsage } from './quota.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('workspace quota', () => {
  it('counts every file, also behind a directory made unreadable, and refuses a write past the quota', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-quota-'));
    await writeFile(join(dir, 'a'), Buffer.alloc(3000));
    await mkdir(join(dir, 'hidden', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'hidden', 'deeper', 'b'), Buffer.alloc(5000));
    await chmod(join(dir, 'hidden'), 0o000);
    const usage = await workspaceUsage(dir);
    expect(usage.incomplete).toBe(false);
    expect(usage.bytes).toBeGreaterThanOrEqual(8000);
    expect(remainingBytes(usage, usage.bytes + 10)).toBe(10);
    expect(remainingBytes(usage, 100)).toBe(0);
    await expect(assertWithinQuota(dir, usage.bytes + 100, 101)).rejects.toMatchObject({ code: 'quota_exceeded' });
    await expect(assertWithinQuota(dir, usage.bytes + 100, 100)).resolves.toBeUndefined();
    // Shrinking is always allowed.
    await expect(assertWithinQuota(dir, 1, -50)).resolves.toBeUndefined();
    // Too many entries to count: counts as full.
    expect((await workspaceUsage(dir, 2)).incomplete).toBe(true);
  });

  it('counts disk reserved past a file’s end (fallocate --keep-size), which its apparent size does not show', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-quota-'));
    await writeFile(join(dir, 'small'), '');
    execFileSync('fallocate', ['--keep-size', '--length', '8M', join(dir, 'small')]);
    expect((await workspaceUsage(dir)).bytes).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  });

  it('counts a workspace holding a path longer than PATH_MAX as full instead of skipping what lies there', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-quota-'));
    // Twenty levels of 250-byte names (5,000+ bytes): only relative `cd`s reach the bottom.
    const name = 'd'.repeat(250);
    execFileSync('bash', ['-c', `cd "$1" && for i in $(seq 20); do mkdir ${name} && cd ${name}; done && head -c 100000 /dev/zero > big`, '_', dir]);
    try {
      const usage = await workspaceUsage(dir);
      expect(usage.incomplete).toBe(true);
      expect(remainingBytes(usage, 10_000_000)).toBe(0);
      await expect(assertWithinQuota(dir, 10_000_000, 1)).rejects.toMatchObject({ code: 'quota_exceeded' });
    } finally {
      execFileSync('rm', ['-rf', dir]); // rm(1) walks a tree of any depth, fs.rm does not
    }
  });
});
