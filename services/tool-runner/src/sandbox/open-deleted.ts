import { readdir, readFile, readlink, stat } from 'node:fs/promises';

/**
 * Descriptors (per thread) and mappings one check looks at, at most: past this many the run cannot
 * be vouched for and counts as over its quota (a shell command needs nowhere near this many; the
 * sandbox's 128 tasks of 256 descriptors each make 32,768).
 */
export const MAX_HANDLES_CHECKED = 65_536;

/** How long one read of the host's process table serves every check that asks (all runs share it). */
const PROCESS_TABLE_TTL_MS = 150;
let processTable: { at: number; children: Promise<Map<number, number[]>> } | undefined;

/** Child pids by parent pid, from `/proc/<pid>/stat` of every process on the host (shared for a moment). */
function childrenByParent(): Promise<Map<number, number[]>> {
  const now = Date.now();
  if (processTable && now - processTable.at < PROCESS_TABLE_TTL_MS) return processTable.children;
  const children = readProcessTable();
  processTable = { at: now, children };
  // A failed read is not kept for the others.
  children.catch(() => {
    if (processTable?.children === children) processTable = undefined;
  });
  return children;
}

async function readProcessTable(): Promise<Map<number, number[]>> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let line: string;
    try {
      line = await readFile(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(line.slice(line.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  return children;
}

/**
 * The host pids of `rootPid` and every process below it. Sandboxed processes stay below the bwrap
 * process however they detach (`setsid`, double forks): an orphan is adopted by the sandbox's own
 * pid 1, which is bwrap's child.
 */
export async function descendantPids(rootPid: number): Promise<number[]> {
  const children = await childrenByParent();
  const found = [rootPid];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]!) ?? []));
  return found;
}

/** Entries of a /proc directory, or none when it is gone or closed to this process. */
async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** `major:minor` (hex, as /proc/<pid>/maps writes it) of a `st_dev`, glibc's encoding. */
function deviceOf(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/**
 * Bytes held by files on device `dev` that were deleted while the processes under `rootPid` keep
 * them: open in any thread's descriptor table (a thread may have a table of its own, and a process
 * whose main thread exited keeps its other threads'), or mapped. A command can write a file, unlink
 * it and keep writing through its descriptor or mapping, and no walk of the workspace sees it any
 * more. Each file counts once, at the larger of its size and the disk it holds; a mapped file that
 * cannot be looked at (following `/proc/<pid>/map_files` needs CAP_SYS_ADMIN, which an unprivileged
 * runner lacks) counts at the length mapped. Undefined when there are more than
 * {@link MAX_HANDLES_CHECKED} descriptors and mappings to look at.
 *
 * Not seen: descriptors in flight in a unix socket (sent with SCM_RIGHTS and closed), which belong
 * to no process until received; RLIMIT_FSIZE and the run's time limit bound what they can hold.
 */
export async function deletedOpenBytes(rootPid: number, dev: number): Promise<number | undefined> {
  const seen = new Set<number>();
  const device = deviceOf(dev);
  let bytes = 0;
  let handles = 0;
  /** Counts the deleted file behind `path` (a /proc link) once; false when it cannot be looked at. */
  const count = async (path: string): Promise<boolean> => {
    try {
      if (!(await readlink(path)).endsWith(' (deleted)')) return true;
      const st = await stat(path);
      if (st.dev === dev && st.nlink === 0 && st.isFile() && !seen.has(st.ino)) {
        seen.add(st.ino);
        bytes += Math.max(st.size, st.blocks * 512);
      }
      return true;
    } catch (err) {
      // Closed or unmapped meanwhile, or (EPERM, EACCES) not ours to follow.
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  };
  for (const pid of await descendantPids(rootPid)) {
    // Every thread's table: one with a table of its own may use the same numbers as the others.
    for (const tid of await entries(`/proc/${pid}/task`)) {
      for (const fd of await entries(`/proc/${pid}/task/${tid}/fd`)) {
        if (++handles > MAX_HANDLES_CHECKED) return undefined;
        await count(`/proc/${pid}/task/${tid}/fd/${fd}`);
      }
    }
    const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
    /** Mapped length of each deleted file on the device that could not be followed, by inode. */
    const unfollowed = new Map<number, number>();
    for (const line of maps.split('\n')) {
      if (!line.endsWith(' (deleted)')) continue;
      const [range, , , lineDevice, inode] = line.split(/\s+/);
      if (lineDevice !== device || !range || !inode) continue;
      if (++handles > MAX_HANDLES_CHECKED) return undefined;
      if (await count(`/proc/${pid}/map_files/${range}`)) continue;
      const [from, to] = range.split('-').map((h) => Number.parseInt(h, 16));
      unfollowed.set(Number(inode), (unfollowed.get(Number(inode)) ?? 0) + (to! - from!));
    }
    for (const [inode, length] of unfollowed) {
      if (seen.has(inode)) continue;
      seen.add(inode);
      bytes += length;
    }
  }
  return bytes;
}
