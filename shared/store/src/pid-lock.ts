import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';

/** Lock files this process holds, so a reused pid (pid 1 in every container) is not mistaken for a live holder. */
const heldHere = new Set<string>();

/**
 * How long a lock file without a pid in it counts as being written by a live process. Locks are
 * created complete (see {@link createWithPid}); an empty one comes from an older version between
 * its create and its write, or from a crash at that moment.
 */
const EMPTY_LOCK_GRACE_MS = 10_000;

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

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Error codes of a file system without hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Creates `path` holding this process's pid, atomically: false when it exists. The pid is written
 * to a private file first and hard-linked into place, so no other process ever reads the lock
 * without its pid (and takes it for a dead holder's). On a file system without hard links it
 * falls back to create-then-write.
 */
function createWithPid(path: string): boolean {
  const staging = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(staging, 'wx');
  try {
    writeSync(fd, String(process.pid));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(staging, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === undefined || !NO_LINKS.has(code)) throw err;
  } finally {
    removeIfPresent(staging);
  }
  try {
    const fd2 = openSync(path, 'wx');
    try {
      writeSync(fd2, String(process.pid));
    } finally {
      closeSync(fd2);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Whether a lock file with no pid in it may still be in the middle of being written. */
function recentlyCreated(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < EMPTY_LOCK_GRACE_MS;
  } catch {
    return false;
  }
}

/**
 * Replaces a lock whose holder is dead with this process's, under a second lock
 * (`<path>.takeover`): of several processes that found the same dead holder, only one replaces
 * it, and none deletes a lock another has just taken. Returns true when taken, else the pid that
 * holds (or is taking) it, or undefined to look again.
 */
function takeOver(path: string): true | number | undefined {
  const guard = `${path}.takeover`;
  if (!createWithPid(guard)) {
    const taker = lockHolder(guard);
    if (taker !== undefined && isAlive(taker)) return taker;
    // Left by a process that died while taking over (or is being written, by an older version).
    if (taker === undefined && recentlyCreated(guard)) return -1;
    removeIfPresent(guard);
    return undefined;
  }
  try {
    // Under the guard no other process removes the lock: look at it again, it may be taken anew.
    const holder = lockHolder(path);
    if (holder !== undefined && isAlive(holder)) return holder;
    if (holder === undefined && recentlyCreated(path)) return -1;
    removeIfPresent(path);
    return createWithPid(path) ? true : (lockHolder(path) ?? -1);
  } finally {
    removeIfPresent(guard);
  }
}

/**
 * Takes an exclusive lock file holding this process's pid. A lock left by a dead process (or by a
 * previous life of this pid) is taken over, by one process only when several find it at once.
 * Returns the live holder's pid when the lock is held (-1 when it is being written).
 */
export function tryLock(path: string): { ok: true } | { ok: false; holder: number } {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createWithPid(path)) {
      heldHere.add(path);
      return { ok: true };
    }
    if (heldHere.has(path)) return { ok: false, holder: process.pid };
    const holder = lockHolder(path);
    if (holder !== undefined && isAlive(holder)) return { ok: false, holder };
    if (holder === undefined && recentlyCreated(path)) return { ok: false, holder: -1 };
    const taken = takeOver(path);
    if (taken === true) {
      heldHere.add(path);
      return { ok: true };
    }
    if (taken !== undefined) return { ok: false, holder: taken };
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
