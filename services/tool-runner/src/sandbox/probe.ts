import { constants } from 'node:fs';
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { SandboxLimits, SandboxProfile } from './bwrap.ts';
import { runSandboxed } from './run-sandboxed.ts';
import { findRunCgroups, joiningCommand, type RunCgroups } from './cgroup.ts';
import { buildSeccompFilter } from './seccomp.ts';
import type { Workspaces } from './workspaces.ts';

/** Directories searched for a bare `bwrap` name; the runner's own PATH is deliberately not used. */
const SYSTEM_BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/bin'];

/** What the operator configured for the sandbox. */
export interface SandboxSettings {
  /** `bwrap` (searched in /usr/local/bin, /usr/bin, /bin) or an absolute path. */
  bwrapPath: string;
  uid: number;
  gid: number;
  limits: SandboxLimits;
  etcEntries: readonly string[];
}

/** The self-check's verdict: a usable profile (with notes on fallbacks taken) or the reason there is none. */
export type SandboxProbe = { ok: true; profile: SandboxProfile; notes: string[] } | { ok: false; reason: string };

/** Reserved session key of the workspace the self-check binds (its hash never collides with a real key's). */
export const PROBE_SESSION_KEY = '\0sandbox-self-check';

async function resolveBinary(name: string): Promise<string | undefined> {
  const candidates = isAbsolute(name) ? [name] : name.includes('/') ? [] : SYSTEM_BIN_DIRS.map((d) => join(d, name));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}

/**
 * The start-up self-check: runs a real sandbox (same namespaces, mounts, uid and limits as a
 * shell run) that must prove it is the sandbox uid, can write /workspace and cannot write /usr.
 * Tries a fresh /proc first and falls back to an empty one where the host forbids procfs mounts
 * (masked container /proc). Never throws: a failure is a reason to keep `shell` disabled, and so
 * is an `arch` (default `process.arch`) the seccomp filter has no syscall table for.
 */
export async function probeSandbox(settings: SandboxSettings, workspaces: Workspaces, processUid: number, arch: string = process.arch): Promise<SandboxProbe> {
  let seccompFilter: Buffer;
  try {
    seccompFilter = buildSeccompFilter(arch);
  } catch (err) {
    // Never run unconfined: without the filter SysV shared memory escapes the memory limit.
    return { ok: false, reason: (err as Error).message };
  }
  const bwrapPath = await resolveBinary(settings.bwrapPath);
  if (!bwrapPath) return { ok: false, reason: `bubblewrap not found (${settings.bwrapPath}; searched ${SYSTEM_BIN_DIRS.join(', ')})` };
  if (processUid !== 0 && workspaces.owner) return { ok: false, reason: 'internal: workspace owner set for a non-root runner' };
  let workspaceDir: string;
  try {
    workspaceDir = await workspaces.ensure(PROBE_SESSION_KEY);
  } catch (err) {
    return { ok: false, reason: `the workspace root ${workspaces.rootDir} is not usable: ${(err as Error).message}` };
  }
  const dropPrivileges = processUid === 0;
  const found = await findRunCgroups();
  const cgroups = 'cgroups' in found ? await usableCgroups(found.cgroups, dropPrivileges ? { uid: settings.uid, gid: settings.gid } : undefined) : found.reason;
  const cgroupNote =
    typeof cgroups === 'string'
      ? `no memory cgroup per run (${cgroups}): each process of a command is limited to ${settings.limits.memoryBytes} bytes, not all of them together`
      : cgroups.swapCapped
        ? undefined
        : 'the memory cgroup per run does not cap swap (no swap accounting on this host): a command may swap past its memory cap';
  const base: Omit<SandboxProfile, 'procMode'> = {
    bwrapPath,
    uid: settings.uid,
    gid: settings.gid,
    dropPrivileges,
    limits: settings.limits,
    etcEntries: settings.etcEntries,
    seccompFilter,
    ...(typeof cgroups === 'string' ? {} : { cgroups }),
  };
  const check = `test "$(id -u)" = ${settings.uid} && test "$(id -g)" = ${settings.gid} && touch /workspace/.probe && rm /workspace/.probe && ! touch /usr/.probe 2>/dev/null && echo sandbox-ok`;
  const failures: string[] = [];
  for (const procMode of ['proc', 'tmpfs'] as const) {
    const profile: SandboxProfile = { ...base, procMode };
    try {
      const result = await runSandboxed(profile, { command: check, workspaceDir, timeoutMs: 10_000, killAfterOutputBytes: 64 * 1024, keepBytes: 4096 });
      if (result.exitCode === 0 && result.stdout.trim() === 'sandbox-ok') {
        const notes = procMode === 'tmpfs' ? [`a fresh /proc could not be mounted (${failures.join('; ')}); the sandbox gets an empty /proc`] : [];
        if (cgroupNote) notes.push(cgroupNote);
        return { ok: true, profile, notes };
      }
      failures.push(`--${procMode === 'proc' ? 'proc' : 'tmpfs'} /proc: exit ${result.exitCode ?? result.killed}: ${result.stderr.trim().slice(0, 300) || 'no output'}`);
    } catch (err) {
      return { ok: false, reason: `bubblewrap could not be started: ${(err as Error).message}` };
    }
  }
  const hint = processUid === 0
    ? ` (the runner is root, so bwrap runs as uid ${settings.uid}: every directory above ${workspaces.rootDir} must be searchable by it)`
    : ' (unprivileged user namespaces must be allowed, see k8s/base/tool-runner/deployment.yaml)';
  return { ok: false, reason: `the bubblewrap self-check failed: ${failures.join('; ')}${hint}` };
}

/**
 * The run cgroups, once a process running as the sandbox user (when the runner drops to it) has
 * moved itself into one, as every run's first process will; else why not.
 */
async function usableCgroups(cgroups: RunCgroups, owner: { uid: number; gid: number } | undefined): Promise<RunCgroups | string> {
  let cgroup;
  try {
    cgroup = await cgroups.create(64 * 1024 * 1024, owner);
  } catch (err) {
    return `could not make one under ${cgroups.parent}: ${(err as Error).message}`;
  }
  try {
    const moved = await new Promise<boolean>((resolve) => {
      const [file, args] = joiningCommand(cgroup, '/bin/true', []);
      const child = spawn(file, args, { stdio: 'ignore', env: {}, ...(owner ?? {}) });
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
    return moved ? cgroups : `a process of the sandbox user cannot join one under ${cgroups.parent}`;
  } finally {
    await cgroup.remove();
  }
}
