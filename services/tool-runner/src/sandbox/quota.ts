import { constants } from 'node:fs';
import { chmod, lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ToolError } from '../tools/tool-error.ts';

/** Entries a usage walk looks at before it gives up and reports the workspace as full. */
export const USAGE_MAX_ENTRIES = 200_000;

/** Bytes a workspace uses and whether the walk saw all of it. */
export interface WorkspaceUsage {
  bytes: number;
  entries: number;
  /**
   * True when the walk stopped at `USAGE_MAX_ENTRIES` or met an entry it could not look at (a
   * path longer than PATH_MAX, say); the workspace then counts as full.
   */
  incomplete: boolean;
}

/** Linux's O_PATH (Node does not export it): a handle to the directory itself, needing no permission on it. */
const O_PATH = 0o10000000;

/**
 * The names in a directory the sandboxed command made unreadable to its owner (`chmod 000`),
 * after opening it up again (the runner owns it or is root). Through an O_PATH handle opened
 * without following symlinks, so a symlink swapped in for the directory cannot turn the chmod on
 * a path outside the workspace. Undefined when that fails (the walk then counts as incomplete).
 */
async function reopenedNames(dir: string): Promise<string[] | undefined> {
  let handle;
  try {
    handle = await open(dir, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    const self = `/proc/self/fd/${handle.fd}`;
    await chmod(self, 0o700);
    return await readdir(self);
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Bytes used by a workspace: per entry (files, directories, symlinks) the larger of its apparent
 * size and the disk it holds, so a sparse file counts at its full length, space reserved past the
 * end (`fallocate --keep-size`) counts too, and a swarm of empty files still costs something. A
 * directory the sandboxed command made unreadable (`chmod 000`) is opened up again first (see
 * reopenedNames), so nothing can be hidden from the count; one that cannot be makes the walk
 * incomplete (counted as full).
 */
export async function workspaceUsage(dir: string, maxEntries = USAGE_MAX_ENTRIES): Promise<WorkspaceUsage> {
  let bytes = 0;
  let entries = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let names: string[];
    try {
      names = await readdir(current);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      if (code !== 'EACCES') return { bytes, entries, incomplete: true };
      const reopened = await reopenedNames(current);
      if (!reopened) return { bytes, entries, incomplete: true };
      names = reopened;
    }
    for (const name of names) {
      const path = join(current, name);
      let st;
      try {
        st = await lstat(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
        // Anything else (a path longer than PATH_MAX, built by `cd`-ing ever deeper) cannot be
        // counted from here; skipping it would let files there grow past the quota.
        return { bytes, entries, incomplete: true };
      }
      entries += 1;
      bytes += Math.max(st.size, st.blocks * 512);
      if (entries >= maxEntries) return { bytes, entries, incomplete: true };
      if (st.isDirectory()) stack.push(path);
    }
  }
  return { bytes, entries, incomplete: false };
}

/** Bytes still free under `quotaBytes` (0 when the workspace is at or over it, or too big to count). */
export function remainingBytes(usage: WorkspaceUsage, quotaBytes: number): number {
  return usage.incomplete ? 0 : Math.max(0, quotaBytes - usage.bytes);
}

/**
 * Throws `quota_exceeded` when writing `addBytes` more (net: new size minus the size replaced)
 * would take the workspace at `dir` over `quotaBytes`. A write that shrinks nothing it replaces but
 * creates a new entry (`createsEntry`) is checked even when it adds no bytes: a workspace over its
 * quota takes no new files.
 */
export async function assertWithinQuota(dir: string, quotaBytes: number, addBytes: number, createsEntry = false): Promise<void> {
  if (addBytes <= 0 && !createsEntry) return;
  const usage = await workspaceUsage(dir);
  if (usage.incomplete || usage.bytes + addBytes > quotaBytes) {
    throw new ToolError(
      'quota_exceeded',
      `the workspace quota of ${quotaBytes} bytes would be exceeded: ${usage.bytes}${usage.incomplete ? '+' : ''} bytes used, this write adds ${addBytes}; delete files first`,
    );
  }
}
