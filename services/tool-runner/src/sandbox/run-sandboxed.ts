import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { buildBwrapArgs, runMemoryCapBytes, sandboxFdData, type SandboxProfile } from './bwrap.ts';
import { joiningCommand, type RunCgroup } from './cgroup.ts';
import { fitTogether, OutputCapture } from './output-capture.ts';

/** One command to run in a sandbox. */
export interface SandboxRun {
  command: string;
  /** Host directory bound read-write at /workspace. */
  workspaceDir: string;
  /** Wall-time limit in ms; the whole sandbox is SIGKILLed when it passes. */
  timeoutMs: number;
  /** Bytes of stdout plus stderr after which the sandbox is killed (the rest is never read). */
  killAfterOutputBytes: number;
  /** Bytes of each stream kept for the caller: half from the start, half from the end. */
  keepBytes: number;
  /** Aborting kills the sandbox (runner shutdown or the run's own deadline). */
  signal?: AbortSignal;
  /**
   * Checked every `intervalMs` while the command runs (given the host pid of the bwrap process,
   * above every sandboxed process); when it resolves true the sandbox is killed (`disk_quota`).
   */
  watch?: { intervalMs: number; exceeded: (sandbox: { pid: number }) => Promise<boolean> };
}

/** Why the runner (or, for `memory`, the kernel: the run's cgroup was full) killed a sandbox, if it was. */
export type SandboxKillReason = 'timeout' | 'output_limit' | 'aborted' | 'disk_quota' | 'memory';

/** How a sandboxed command ended, with its (head-and-tail) output. */
export interface SandboxResult {
  /** The command's exit status (bwrap reports 128 + n for a command killed by signal n); null if killed by the runner. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as kept, fitted into `maxBytes` together (each cut in its middle). */
  fit(maxBytes: number): { stdout: string; stderr: string };
  killed: SandboxKillReason | undefined;
  /** stdout plus stderr bytes the command produced before it ended or was killed. */
  outputBytes: number;
  durationMs: number;
}

/**
 * Runs one command under bubblewrap and resolves when the sandbox is gone. Never throws for the
 * command's own failures; rejects only if bwrap cannot be started at all.
 *
 * Kill path: bwrap is started in its own process group; a SIGKILL to that group kills the outer
 * bwrap, whose death kills (PR_SET_PDEATHSIG, `--die-with-parent`) the sandbox's pid 1, and the
 * kernel then kills every process left in the sandbox's pid namespace — also those that escaped
 * the group with setsid().
 */
export async function runSandboxed(profile: SandboxProfile, run: SandboxRun): Promise<SandboxResult> {
  const cgroup = profile.cgroups ? await profile.cgroups.create(runMemoryCapBytes(profile.limits), profile.dropPrivileges ? { uid: profile.uid, gid: profile.gid } : undefined) : undefined;
  try {
    const result = await runBwrap(profile, run, cgroup);
    return !result.killed && (await cgroup?.oomKilled()) ? { ...result, exitCode: null, killed: 'memory' } : result;
  } finally {
    await cgroup?.remove();
  }
}

/** The bwrap command line, joining the run's cgroup first when there is one. */
function bwrapCommand(profile: SandboxProfile, run: SandboxRun, cgroup: RunCgroup | undefined): [string, string[]] {
  const args = buildBwrapArgs(profile, run.workspaceDir, run.command, 3);
  return cgroup ? joiningCommand(cgroup, profile.bwrapPath, args) : [profile.bwrapPath, args];
}

function runBwrap(profile: SandboxProfile, run: SandboxRun, cgroup: RunCgroup | undefined): Promise<SandboxResult> {
  const started = performance.now();
  const fdData = sandboxFdData(profile);
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...fdData.map(() => 'pipe' as const)];
  const [file, args] = bwrapCommand(profile, run, cgroup);
  const child = spawn(file, args, {
    stdio,
    detached: true,
    // Nothing of the runner's environment (API keys, REDIS_URL) reaches even bwrap itself.
    env: {},
    ...(profile.dropPrivileges ? { uid: profile.uid, gid: profile.gid } : {}),
  });
  const half = Math.floor(run.keepBytes / 2);
  const out = new OutputCapture(half, run.keepBytes - half);
  const err = new OutputCapture(half, run.keepBytes - half);
  let killed: SandboxKillReason | undefined;
  const kill = (reason: SandboxKillReason) => {
    if (killed || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    killed = reason;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // ESRCH: it already exited between the check and the kill.
    }
  };

  return new Promise<SandboxResult>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => kill('timeout'), run.timeoutMs);
    let watching = false;
    const watcher = run.watch
      ? setInterval(() => {
          if (watching) return;
          watching = true;
          run.watch!.exceeded({ pid: child.pid! }).then(
            (over) => {
              watching = false;
              if (over) kill('disk_quota');
            },
            () => {
              // A watch that cannot measure cannot vouch for the quota either.
              watching = false;
              kill('disk_quota');
            },
          );
        }, run.watch.intervalMs)
      : undefined;
    const onAbort = () => kill('aborted');
    if (run.signal?.aborted) queueMicrotask(onAbort);
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      clearInterval(watcher);
      run.signal?.removeEventListener('abort', onAbort);
    };
    const onData = (capture: OutputCapture) => (chunk: Buffer) => {
      capture.push(chunk);
      if (out.total + err.total > run.killAfterOutputBytes) {
        kill('output_limit');
        // Stop reading at once: whatever is still buffered in the pipe is not ours to keep.
        (child.stdout as Readable).destroy();
        (child.stderr as Readable).destroy();
      }
    };
    (child.stdout as Readable).on('data', onData(out));
    (child.stderr as Readable).on('data', onData(err));
    (child.stdout as Readable).on('error', () => undefined);
    (child.stderr as Readable).on('error', () => undefined);
    fdData.forEach((data, i) => {
      const pipe = child.stdio[3 + i] as Writable;
      // bwrap reads each fd (files, seccomp filter) while it sets up the sandbox; if it fails
      // first, EPIPE is expected. All of them together are far below a pipe's 64 KiB buffer.
      pipe.on('error', () => undefined);
      pipe.end(data);
    });
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(error);
    });
    // 'close' waits for stdout/stderr to end; the pid namespace dies with bwrap, so they do.
    child.on('close', (code) => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve({
        exitCode: killed ? null : code,
        stdout: out.text(),
        stderr: err.text(),
        fit: (maxBytes) => {
          const [stdout, stderr] = fitTogether(out, err, maxBytes);
          return { stdout, stderr };
        },
        killed,
        outputBytes: out.total + err.total,
        durationMs: performance.now() - started,
      });
    });
  });
}
