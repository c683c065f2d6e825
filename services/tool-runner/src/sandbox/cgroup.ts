import { randomBytes } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import { access, chown, constants, mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A memory cgroup per shell run, where the host lets the runner make one: RLIMIT_AS bounds each
 * process of a run, the cgroup bounds all of them together (and the run's /tmp and /dev/shm
 * pages, which the kernel charges to it). Kubernetes pods rarely get a writable cgroup tree, so
 * this is used where it is found and the per-process limits stand alone elsewhere.
 *
 * Only cgroup v1 (a `memory` hierarchy, at the runner's own place in the tree per
 * `/proc/self/cgroup`) is used. Under v2 a runner would have to move itself into a leaf of its
 * own, enable `memory` on each level and let the sandbox user write the common ancestor's
 * `cgroup.procs`; that is not done, so a v2 host gets per-process limits (and says so at start).
 */
export interface RunCgroups {
  /** The directory run cgroups are made in (this runner's own; removed when it exits). */
  parent: string;
  /** Whether swap is capped with memory (v1 swap accounting); without it a run may swap past its cap. */
  swapCapped: boolean;
  /** Makes one run's cgroup, capped at `bytes`; its `procs` file is the one the run's first process writes its pid to. */
  create(bytes: number, owner?: { uid: number; gid: number }): Promise<RunCgroup>;
}

export interface RunCgroup {
  dir: string;
  /** The cgroup's `cgroup.procs`: see {@link joiningCommand}. */
  procs: string;
  /** Whether the kernel killed a process of the run for going over the cap. */
  oomKilled(): Promise<boolean>;
  /** Removes the cgroup once its processes are gone (retried briefly; best effort). */
  remove(): Promise<void>;
}

const ROOT = '/sys/fs/cgroup';

/**
 * `file args…` started through a shell that first moves itself into `cgroup` and then becomes
 * `file`: everything it starts is in the cgroup from its first instruction, and its pid (and so
 * its process group) is the shell's.
 */
export function joiningCommand(cgroup: RunCgroup, file: string, args: readonly string[]): [string, string[]] {
  return ['/bin/sh', ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', cgroup.procs, file, ...args]];
}

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

/** This process' run-cgroup parents: empty once the runs are over, removed when it exits (one that dies without exiting leaves empty ones). */
const ownParents = new Set<string>();

function removeOwnParents(): void {
  for (const parent of ownParents) {
    try {
      rmdirSync(parent);
    } catch {
      // Not empty (a run still going) or gone.
    }
  }
}

/** Counter `name` of a flat-keyed cgroup file (`memory.oom_control`), 0 when absent. */
async function counter(file: string, name: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * The run cgroups this host allows (a directory `switchboard-sandbox-<random>` made under the
 * runner's own v1 memory cgroup), or the reason there are none.
 */
export async function findRunCgroups(): Promise<{ cgroups: RunCgroups } | { reason: string }> {
  let places: Map<string, string>;
  try {
    places = await ownCgroups();
  } catch {
    return { reason: 'no /proc/self/cgroup' };
  }
  const v1 = [...places].find(([controllers]) => controllers.split(',').includes('memory'));
  if (!v1) return { reason: places.has('') ? 'cgroup v2 only (per-run cgroups are made under cgroup v1 only)' : 'no memory cgroup hierarchy' };
  const own = join(ROOT, 'memory', v1[1]);
  if (!(await writable(own))) return { reason: `${own} is not writable by the runner` };
  // Runners that died without exiting leave empty parents: those idle for an hour are removed (a
  // live runner's, idle that long, is made again by its next run; rmdir leaves a busy one alone).
  for (const entry of await readdir(own, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || !entry.name.startsWith('switchboard-sandbox-')) continue;
    const path = join(own, entry.name);
    const idleMs = Date.now() - (await stat(path).then((st) => st.mtimeMs, () => Date.now()));
    if (idleMs > 3_600_000) await rmdir(path).catch(() => undefined);
  }
  // One per runner: a runner in another pid namespace may share this cgroup.
  const parent = join(own, `switchboard-sandbox-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(parent);
  } catch (err) {
    return { reason: `could not make ${parent}: ${(err as Error).message}` };
  }
  ownParents.add(parent);
  if (ownParents.size === 1) process.once('exit', removeOwnParents);
  const swapCapped = await access(join(own, 'memory.memsw.limit_in_bytes')).then(
    () => true,
    () => false,
  );
  return {
    cgroups: {
      parent,
      swapCapped,
      async create(bytes, owner) {
        const dir = join(parent, `run-${randomBytes(6).toString('hex')}`);
        await mkdir(dir, { recursive: true });
        try {
          await writeFile(join(dir, 'memory.limit_in_bytes'), String(bytes));
          // Memory plus swap, so a run cannot swap past its cap (where swap is accounted).
          if (swapCapped) await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(bytes));
          const procs = join(dir, 'cgroup.procs');
          // The run's first process moves itself in, after it dropped to the sandbox user.
          if (owner) await chown(procs, owner.uid, owner.gid);
          return {
            dir,
            procs,
            oomKilled: async () => (await counter(join(dir, 'memory.oom_control'), 'oom_kill')) > 0,
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
