import { readdir, readFile, readlink, stat } from 'node:fs/promises';

/**
 * Descriptors and mappings one check looks at, at most: past this many the run cannot be vouched
 * for and counts as over its quota (a shell command needs nowhere near this many; 128 processes
 * of 256 descriptors each would make every check take seconds).
 */
export const MAX_HANDLES_CHECKED = 16_384;

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

/**
 * Bytes held by files on device `dev` that were deleted while the processes under `rootPid` keep
 * them: open in any thread's descriptor table (a thread may have a table of its own, and a process
 * whose main thread exited keeps its other threads'), or mapped. A command can write a file, unlink
 * it and keep writing through its descriptor or mapping, and no walk of the workspace sees it any
 * more. Each file counts once, at the larger of its size and the disk it holds. Undefined when
 * there are more than {@link MAX_HANDLES_CHECKED} descriptors and mappings to look at.
 *
 * Not seen: descriptors in flight in a unix socket (sent with SCM_RIGHTS and closed), which belong
 * to no process until received; RLIMIT_FSIZE and the run's time limit bound what they can hold.
 */
export async function deletedOpenBytes(rootPid: number, dev: number): Promise<number | undefined> {
  const seen = new Set<number>();
  let bytes = 0;
  let handles = 0;
  for (const pid of await descendantPids(rootPid)) {
    const lists = new Map<string, string[]>();
    const main = await entries(`/proc/${pid}/fd`);
    lists.set(`/proc/${pid}/fd`, main);
    // Threads share their process' table unless one made its own (or the main thread exited, and
    // its table reads empty): a thread's table is read only when it lists other descriptors.
    const mainNames = main.join(',');
    for (const tid of await entries(`/proc/${pid}/task`)) {
      if (tid === String(pid)) continue;
      const names = await entries(`/proc/${pid}/task/${tid}/fd`);
      if (names.join(',') !== mainNames) lists.set(`/proc/${pid}/task/${tid}/fd`, names);
    }
    lists.set(`/proc/${pid}/map_files`, await entries(`/proc/${pid}/map_files`));
    for (const [dir, names] of lists) {
      for (const name of names) {
        if (++handles > MAX_HANDLES_CHECKED) return undefined;
        const path = `${dir}/${name}`;
        try {
          if (!(await readlink(path)).endsWith(' (deleted)')) continue;
          const st = await stat(path);
          if (st.dev !== dev || st.nlink !== 0 || !st.isFile() || seen.has(st.ino)) continue;
          seen.add(st.ino);
          bytes += Math.max(st.size, st.blocks * 512);
        } catch {
          // Closed or unmapped meanwhile.
        }
      }
    }
  }
  return bytes;
}
