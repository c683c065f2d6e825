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
});
