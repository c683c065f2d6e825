import { randomBytes } from 'node:crypto';
import { access, chown, constants, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A memory cgroup per shell run, where the host lets the runner make one: RLIMIT_AS bounds each
 * process of a run, the cgroup bounds all of them together (and the run's /tmp and /dev/shm
 * pages, which the kernel charges to it). Kubernetes pods rarely get a writable cgroup tree, so
 * this is used where it is found and the per-process limits stand alone elsewhere.
 *
 * cgroup v1 (a `memory` hierarchy) and v2 (the unified one, where the runner's own cgroup must
 * already delegate `memory` to its children) are both looked for, at the runner's own place in
 * the tree (`/proc/self/cgroup`).
 */
export interface RunCgroups {
  version: 1 | 2;
  /** The directory run cgroups are made in. */
  parent: string;
  /** Makes one run's cgroup, capped at `bytes`; its `procs` file is the one the run's first process writes its pid to. */
  create(bytes: number, owner?: { uid: number; gid: number }): Promise<RunCgroup>;
}

export interface RunCgroup {
  dir: string;
  procs: string;
  /** Whether the kernel killed a process of the run for going over the cap. */
  oomKilled(): Promise<boolean>;
  /** Removes the cgroup once its processes are gone (retried briefly; best effort). */
  remove(): Promise<void>;
}

const ROOT = '/sys/fs/cgroup';

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where this process sits in each hierarchy: `controllers -> path` from /proc/self/cgroup. */
async function ownCgroups(): Promise<Map<string, string>> {
  const places = new Map<string, string>();
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match) places.set(match[1]!, match[2]!);
  }
  return places;
}

async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes an empty cgroup and its empty children (a cgroup directory is removed with rmdir, never rm -r). Best effort. */
async function removeTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) await removeTree(join(dir, entry.name));
  }
  await rmdir(dir).catch(() => undefined);
}

/** Counter `name` of a flat-keyed cgroup file (`memory.events`, `memory.oom_control`), 0 when absent. */
async function counter(file: string, name: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * The run cgroups this host allows (a directory `switchboard-sandbox-<pid>` made under the
 * runner's own cgroup), or undefined with the reason.
 */
export async function findRunCgroups(): Promise<{ cgroups: RunCgroups } | { reason: string }> {
  let places: Map<string, string>;
  try {
    places = await ownCgroups();
  } catch {
    return { reason: 'no /proc/self/cgroup' };
  }
  const v1 = [...places].find(([controllers]) => controllers.split(',').includes('memory'));
  let version: 1 | 2;
  let own: string;
  if (v1) {
    version = 1;
    own = join(ROOT, 'memory', v1[1]);
  } else if (places.has('')) {
    version = 2;
    own = join(ROOT, places.get('')!);
    const delegated = await readFile(join(own, 'cgroup.subtree_control'), 'utf8').catch(() => '');
    if (!delegated.split(/\s+/).includes('memory')) return { reason: `cgroup v2 at ${own} does not delegate the memory controller to its children` };
  } else {
    return { reason: 'no memory cgroup hierarchy' };
  }
  if (!(await writable(own))) return { reason: `${own} is not writable by the runner` };
  // Those of runners that are gone (empty once their runs ended) are removed; a live one's is busy.
  for (const name of await readdir(own).catch(() => [] as string[])) {
    const pid = /^switchboard-sandbox-(\d+)$/.exec(name)?.[1];
    if (pid && Number(pid) !== process.pid && !(await alive(Number(pid)))) await removeTree(join(own, name));
  }
  const parent = join(own, `switchboard-sandbox-${process.pid}`);
  try {
    await mkdir(parent, { recursive: true });
  } catch (err) {
    return { reason: `could not make ${parent}: ${(err as Error).message}` };
  }
  const limitFile = version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
  return {
    cgroups: {
      version,
      parent,
      async create(bytes, owner) {
        const dir = join(parent, `run-${randomBytes(6).toString('hex')}`);
        await mkdir(dir);
        try {
          await writeFile(join(dir, limitFile), String(bytes));
          // Swap would let a run hold more than its cap in memory plus swap (v1 counts them apart).
          if (version === 1) await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(bytes)).catch(() => undefined);
          else await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined);
          const procs = join(dir, 'cgroup.procs');
          // The run's first process moves itself in, after it dropped to the sandbox user.
          if (owner) await chown(procs, owner.uid, owner.gid);
          return {
            dir,
            procs,
            oomKilled: async () => (await counter(join(dir, version === 1 ? 'memory.oom_control' : 'memory.events'), 'oom_kill')) > 0,
            async remove() {
              for (let attempt = 0; attempt < 20; attempt++) {
                try {
                  await rmdir(dir);
                  return;
                } catch (err) {
                  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
                  await new Promise((r) => setTimeout(r, 50)); // its last processes are still exiting
                }
              }
            },
          };
        } catch (err) {
          await rmdir(dir).catch(() => undefined);
          throw err;
        }
      },
    },
  };
}
