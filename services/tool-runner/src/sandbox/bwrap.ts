/**
 * Building the bubblewrap command line for one sandboxed shell run. Pure functions: what is
 * mounted, which ids and limits apply and which files the sandbox gets are all decided here, so
 * they can be read (and tested) in one place.
 */
import type { RunCgroups } from './cgroup.ts';

/** Resource limits of one sandboxed command (applied with `ulimit` inside the sandbox). */
export interface SandboxLimits {
  /** RLIMIT_CPU: CPU seconds per process (default 60). */
  cpuSeconds: number;
  /** RLIMIT_AS: address space per process in bytes (default 1 GiB). */
  memoryBytes: number;
  /** RLIMIT_FSIZE: largest file a process may write, in bytes (default 256 MiB). */
  fileSizeBytes: number;
  /** RLIMIT_NPROC: processes of the sandbox user in the sandbox's user namespace (default 128). */
  processes: number;
  /** RLIMIT_NOFILE: open file descriptors per process (default 256). */
  openFiles: number;
  /** Size of the private /tmp tmpfs in bytes (default 64 MiB); /dev/shm gets a quarter of it (at most 16 MiB). */
  tmpBytes: number;
}

/** Default limits: 60 CPU s, 1 GiB address space, 256 MiB files, 128 processes, 256 fds, 64 MiB /tmp. */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  cpuSeconds: 60,
  memoryBytes: 1024 * 1024 * 1024,
  fileSizeBytes: 256 * 1024 * 1024,
  processes: 128,
  openFiles: 256,
  tmpBytes: 64 * 1024 * 1024,
};

/**
 * Host /etc entries bound read-only into the sandbox by default: what dynamic linking, Debian
 * alternatives (awk, editor, ...) and time zones need. Never the whole /etc (shadow, ssh keys,
 * service config).
 */
export const DEFAULT_SANDBOX_ETC: readonly string[] = [
  'alternatives',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'os-release',
  'debian_version',
  'mime.types',
];

/** Everything needed to start sandboxes on this host, fixed by the start-up self-check. */
export interface SandboxProfile {
  /** Absolute path of the bwrap binary. */
  bwrapPath: string;
  /** uid/gid of the sandboxed command (inside the sandbox; on the host too when the runner is root). */
  uid: number;
  gid: number;
  /** Whether to setuid to `uid`/`gid` before starting bwrap: required when the runner is root. */
  dropPrivileges: boolean;
  /** `proc`: a fresh procfs for the sandbox's pid namespace; `tmpfs`: an empty /proc (when the host forbids procfs mounts). */
  procMode: 'proc' | 'tmpfs';
  limits: SandboxLimits;
  /** Host /etc entries (names relative to /etc) bound read-only; missing ones are skipped. */
  etcEntries: readonly string[];
  /** Compiled seccomp filter (`buildSeccompFilter` in seccomp.ts) bwrap installs on the command: no SysV IPC. */
  seccompFilter: Buffer;
  /** Where each run gets a memory cgroup capping all its processes together ({@link runMemoryCapBytes}); none: per-process limits only. */
  cgroups?: RunCgroups;
}

/**
 * The memory all of one run's processes may hold together, where a cgroup enforces it: the
 * per-process address-space limit, plus the /tmp and /dev/shm pages the kernel charges to the run.
 */
export function runMemoryCapBytes(limits: SandboxLimits): number {
  return limits.memoryBytes + limits.tmpBytes + shmBytes(limits);
}

/** Size of the sandbox's /dev/shm in bytes: a quarter of /tmp's, at least 1 MiB, at most 16 MiB. */
export function shmBytes(limits: SandboxLimits): number {
  return Math.min(16 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(limits.tmpBytes / 4)));
}

/** Files the sandbox gets instead of the host's, passed to bwrap on pipes (fd 3, 4, ...). */
export function sandboxEtcFiles(uid: number, gid: number): Array<{ path: string; content: string }> {
  return [
    { path: '/etc/passwd', content: `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:${uid}:${gid}:sandbox:/workspace:/bin/bash\n` },
    { path: '/etc/group', content: `root:x:0:\nsandbox:x:${gid}:\n` },
    { path: '/etc/hosts', content: '127.0.0.1 localhost sandbox\n::1 localhost\n' },
    { path: '/etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' },
  ];
}

/**
 * The script bwrap starts: it applies the limits to itself (so they are inherited by everything
 * the command starts) and then execs `bash -c "$1"`. Limits are set inside the sandbox rather
 * than on bwrap so that RLIMIT_NPROC counts the sandbox's own user namespace, not every process
 * of the sandbox uid on the host.
 */
export function limitScript(limits: SandboxLimits): string {
  const kib = (bytes: number) => Math.max(1, Math.floor(bytes / 1024));
  // Bash's ulimit units: -v KiB, -f 1024-byte blocks (bash -c is not in POSIX mode), -t seconds.
  // Neither -H nor -S: both the soft and the hard limit are set, so the command cannot raise them.
  const set = [
    `ulimit -c 0`,
    `ulimit -t ${limits.cpuSeconds}`,
    // 0 is allowed here: a workspace over its quota may only delete and shrink files.
    `ulimit -f ${Math.max(0, Math.floor(limits.fileSizeBytes / 1024))}`,
    `ulimit -u ${limits.processes}`,
    `ulimit -n ${limits.openFiles}`,
    `ulimit -v ${kib(limits.memoryBytes)}`,
  ].join(' && ');
  return `${set} || { echo 'sandbox: could not apply resource limits' >&2; exit 125; }; exec /bin/bash -c "$1"`;
}

/** Environment of the sandboxed command: nothing from the runner's own (API keys stay out). */
export const SANDBOX_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/workspace',
  LANG: 'C.UTF-8',
  TMPDIR: '/tmp',
  TERM: 'dumb',
  USER: 'sandbox',
};

/**
 * What bwrap reads from the extra fds of one run, in fd order from `firstDataFd`: the
 * {@link sandboxEtcFiles} contents, then the seccomp filter.
 */
export function sandboxFdData(profile: SandboxProfile): Array<string | Buffer> {
  return [...sandboxEtcFiles(profile.uid, profile.gid).map((file) => file.content), profile.seccompFilter];
}

/**
 * bwrap arguments for one run of `command` with `workspaceDir` as /workspace. `firstDataFd` is
 * the fd on which the first of {@link sandboxFdData} arrives (the rest follow in order).
 */
export function buildBwrapArgs(profile: SandboxProfile, workspaceDir: string, command: string, firstDataFd = 3): string[] {
  const args: string[] = [
    // Every namespace, the user namespace included (required for --uid and --disable-userns):
    // no network at all (only the sandbox's own loopback), own pids, ipc, uts and cgroup view.
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    // setsid(): the command cannot reach the runner's terminal with TIOCSTI.
    '--new-session',
    '--cap-drop', 'ALL',
    '--uid', String(profile.uid),
    '--gid', String(profile.gid),
    '--hostname', 'sandbox',
    '--clearenv',
  ];
  for (const [name, value] of Object.entries(SANDBOX_ENV)) args.push('--setenv', name, value);
  args.push(
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/sbin', '/sbin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--dir', '/etc',
  );
  for (const entry of profile.etcEntries) args.push('--ro-bind-try', `/etc/${entry}`, `/etc/${entry}`);
  const etcFiles = sandboxEtcFiles(profile.uid, profile.gid);
  etcFiles.forEach((file, i) => {
    args.push('--perms', '0444', '--ro-bind-data', String(firstDataFd + i), file.path);
  });
  if (profile.procMode === 'proc') args.push('--proc', '/proc');
  else args.push('--tmpfs', '/proc');
  args.push(
    '--dev', '/dev',
    // POSIX shared memory (Python multiprocessing needs it), capped like /tmp: both are RAM.
    '--size', String(shmBytes(profile.limits)), '--perms', '1777', '--tmpfs', '/dev/shm',
    '--size', String(profile.limits.tmpBytes), '--perms', '1777', '--tmpfs', '/tmp',
    '--bind', workspaceDir, '/workspace',
    // / and /dev are tmpfs mounts bwrap built without a size limit: read-only, so that the only
    // writable places are /workspace (disk) and the size-capped /tmp and /dev/shm.
    '--remount-ro', '/dev',
    '--remount-ro', '/',
    '--chdir', '/workspace',
    // Installed (with no_new_privs) on the command only, after the mounts: SysV IPC fails with EPERM.
    '--seccomp', String(firstDataFd + etcFiles.length),
    '--',
    '/bin/bash', '-c', limitScript(profile.limits), 'sandbox', command,
  );
  return args;
}
