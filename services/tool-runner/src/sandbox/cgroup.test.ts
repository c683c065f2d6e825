import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { findRunCgroups } from './cgroup.ts';

const found = await findRunCgroups();

it.skipIf(!('cgroups' in found))('makes capped run cgroups, and makes its parent again when another runner removed it', async () => {
  const { cgroups } = found as Extract<typeof found, { cgroups: unknown }>;
  const run = await cgroups.create(64 * 1024 * 1024);
  expect(Number(await readFile(join(run.dir, 'memory.limit_in_bytes'), 'utf8'))).toBe(64 * 1024 * 1024);
  expect(await run.oomKilled()).toBe(false);
  await run.remove();
  // A runner in another pid namespace sharing this cgroup took the idle, empty parent for a dead one's.
  await rmdir(cgroups.parent);
  const again = await cgroups.create(32 * 1024 * 1024);
  expect(Number(await readFile(join(again.dir, 'memory.limit_in_bytes'), 'utf8'))).toBe(32 * 1024 * 1024);
  await again.remove();
});
