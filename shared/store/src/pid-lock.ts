import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Lock files this process holds, so a reused pid (pid 1 in every container) is not mistaken for a live holder. */
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false; // only `heldHere` can prove our own pid holds it
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid recorded in a lock file, or undefined when the file is missing or unreadable. */
function lockHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes an exclusive lock file holding this process's pid. A lock left by a dead process (or by a
 * previous life of this pid) is taken over. Returns the live holder's pid when the lock is held.
 */
export function tryLock(path: string): { ok: true } | { ok: false; holder: number } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return { ok: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder(path);
    if (heldHere.has(path)) return { ok: false, holder: process.pid };
    if (holder !== undefined && isAlive(holder)) return { ok: false, holder };
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const holder = lockHolder(path);
  return { ok: false, holder: holder ?? -1 };
}

/** Releases a lock taken by {@link tryLock}; a lock this process does not hold is left alone. */
export function unlock(path: string): void {
  if (!heldHere.delete(path)) return;
  try {
    if (lockHolder(path) === process.pid) unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}
