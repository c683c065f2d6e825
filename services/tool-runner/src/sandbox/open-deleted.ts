import { readdir, readFile, readlink, stat } from 'node:fs/promises';

/**
 * The host pids of `rootPid` and every process below it. Sandboxed processes stay below the bwrap
 * process however they detach (`setsid`, double forks): an orphan is adopted by the sandbox's own
 * pid 1, which is bwrap's child.
 */
export async function descendantPids(rootPid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const found = [rootPid];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]!) ?? []));
  return found;
}

/**
 * Bytes held by files on device `dev` that were deleted while the processes under `rootPid` keep
 * them open: a command can write a file, unlink it and keep writing through its descriptor, and
 * no walk of the workspace sees it any more. Each file counts once, at the larger of its size and
 * the disk it holds. Processes or descriptors that go away meanwhile, or that this process may
 * not look at, count nothing.
 */
export async function deletedOpenBytes(rootPid: number, dev: number): Promise<number> {
  const seen = new Set<number>();
  let bytes = 0;
  for (const pid of await descendantPids(rootPid)) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const path = `/proc/${pid}/fd/${fd}`;
      try {
        if (!(await readlink(path)).endsWith(' (deleted)')) continue;
        const st = await stat(path);
        if (st.dev !== dev || st.nlink !== 0 || !st.isFile() || seen.has(st.ino)) continue;
        seen.add(st.ino);
        bytes += Math.max(st.size, st.blocks * 512);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return bytes;
}
