import { stat, statfs } from 'node:fs/promises';
import { z } from 'zod';
import { defineTool, wrapUntrusted, type ToolPlugin } from '@switchboard/tools';
import type { SandboxProfile } from '../sandbox/bwrap.ts';
import { deletedOpenBytes } from '../sandbox/open-deleted.ts';
import { remainingBytes, workspaceUsage } from '../sandbox/quota.ts';
import { runSandboxed, type SandboxResult } from '../sandbox/run-sandboxed.ts';
import { ToolError } from './tool-error.ts';

/** Longest command accepted, in characters. */
export const SHELL_MAX_COMMAND_CHARS = 8192;

export interface ShellToolOptions {
  /** The sandbox the start-up self-check approved; without one there is no shell tool. */
  profile: SandboxProfile;
  /** Wall-time limit of a run in ms, also the most a call may ask for (default 60 000). */
  maxTimeoutMs?: number;
  /** Bytes of stdout and of stderr returned to the model (head and tail; default 8 KiB). */
  keepBytes?: number;
  /** Output in bytes after which the command is killed (default 16 MiB). */
  killAfterOutputBytes?: number;
  /**
   * Most bytes the session's workspace may hold (unset: no quota). Each run may write files up to
   * the space left (RLIMIT_FSIZE), the workspace is measured every `quotaCheckMs` (default 200)
   * while it runs, deleted files the command keeps open included, and the command is killed once
   * it is over; a workspace over its quota only lets commands delete or shrink files.
   */
  quotaBytes?: number;
  quotaCheckMs?: number;
  /** Entries a quota walk counts before the workspace counts as too big to measure (default `USAGE_MAX_ENTRIES`). */
  maxEntries?: number;
}

/**
 * New entries (files, directories, symlinks) the workspace's whole filesystem may gain while a
 * command runs in a workspace too big to measure; see {@link quotaWatch}.
 */
export const UNMEASURABLE_MAX_NEW_ENTRIES = 10_000;

/**
 * The watch that kills a run once its workspace is over `ceilingBytes`: the workspace walked, plus
 * the files the sandbox deleted but keeps open (written through a descriptor after `rm`, which no
 * walk sees). A workspace too big to measure (`ceilingBytes` undefined) has RLIMIT_FSIZE 0, which
 * stops files from growing but not directories, symlinks or `fallocate`: its run is watched, more
 * coarsely, through the filesystem's own counters, and killed once the filesystem holding it grew
 * by more than `quotaBytes` or {@link UNMEASURABLE_MAX_NEW_ENTRIES} entries (other sessions' runs on
 * the same filesystem count too: a bound for a workspace that is over its quota already).
 */
async function quotaWatch(workspaceDir: string, quotaBytes: number, ceilingBytes: number | undefined, intervalMs: number, maxEntries: number | undefined) {
  const dev = (await stat(workspaceDir)).dev;
  if (ceilingBytes !== undefined) {
    return {
      intervalMs,
      exceeded: async ({ pid }: { pid: number }) => {
        const [usage, hidden] = await Promise.all([workspaceUsage(workspaceDir, maxEntries), deletedOpenBytes(pid, dev)]);
        // Too many descriptors to look at: the run cannot be vouched for.
        if (hidden === undefined) return true;
        return remainingBytes({ ...usage, bytes: usage.bytes + hidden }, ceilingBytes + 1) === 0;
      },
    };
  }
  const before = await statfs(workspaceDir);
  return {
    intervalMs,
    exceeded: async () => {
      const now = await statfs(workspaceDir);
      return (before.bfree - now.bfree) * now.bsize > quotaBytes || before.ffree - now.ffree > UNMEASURABLE_MAX_NEW_ENTRIES;
    },
  };
}

/** Time the plugin allows beyond the sandbox's own limit, so the sandbox's kill (with partial output) wins. */
const REPORT_GRACE_MS = 5_000;

/** How the run ended, one line. */
function status(result: SandboxResult, timeoutMs: number, killAfterOutputBytes: number): string {
  if (result.killed === 'timeout') return `killed: time limit of ${timeoutMs} ms reached`;
  if (result.killed === 'output_limit') return `killed: output exceeded ${killAfterOutputBytes} bytes`;
  if (result.killed === 'aborted') return 'killed: the run was cancelled';
  if (result.killed === 'disk_quota') return 'killed: the workspace went over its disk quota';
  if (result.killed === 'memory') return 'killed: the command went over its memory limit (all its processes together); the kernel stopped at least one of them';
  return `exit code: ${result.exitCode}`;
}

/** What the command printed, in at most `maxBytes`: stdout and stderr share it, each cut in its middle. */
function printed(result: SandboxResult, maxBytes: number): string {
  const { stdout, stderr } = result.fit(Math.max(0, maxBytes - Buffer.byteLength('stdout:\n\nstderr:\n')));
  const lines: string[] = [];
  if (stdout) lines.push('stdout:', stdout.replace(/\n$/, ''));
  if (stderr) lines.push('stderr:', stderr.replace(/\n$/, ''));
  if (!stdout && !stderr) lines.push('(no output)');
  return lines.join('\n');
}

/** Bytes the untrusted-data wrapper of a killed run's output adds. */
const WRAPPER_BYTES = Buffer.byteLength(wrapUntrusted('tool:shell', {}, '', Number.MAX_SAFE_INTEGER));

/**
 * `shell`: runs a bash command in the session's workspace inside bubblewrap — no network, a
 * read-only system, /workspace as the only persistent writable directory, an unprivileged uid
 * with no capabilities, an empty environment, and CPU, memory, file-size, process, open-file,
 * wall-time and output limits. Only ever created from a profile that passed the self-check.
 */
export function createShellTool(opts: ShellToolOptions): ToolPlugin {
  const maxTimeoutMs = opts.maxTimeoutMs ?? 60_000;
  const keepBytes = opts.keepBytes ?? 8192;
  const killAfterOutputBytes = opts.killAfterOutputBytes ?? 16 * 1024 * 1024;
  const tool = defineTool({
    name: 'shell',
    description:
      `Run a bash command in your private workspace (/workspace, the current directory; files persist between calls). ` +
      `No network access. Only /workspace and /tmp are writable. Time limit ${maxTimeoutMs} ms; long output is cut in the middle. ` +
      `Returns the exit code, stdout and stderr.`,
    risk: 'high',
    usesWorkspace: true,
    timeoutMs: maxTimeoutMs + REPORT_GRACE_MS,
    parameters: z.object({
      command: z.string().min(1).max(SHELL_MAX_COMMAND_CHARS).describe('The bash command line to run'),
      timeoutMs: z.number().int().positive().optional().describe(`Wall-time limit in ms (at most ${maxTimeoutMs})`),
    }),
    async execute({ command, timeoutMs }, ctx) {
      if (!ctx.workspaceDir) throw new ToolError('workspace_unavailable', 'no workspace is available for this session');
      const limitMs = Math.min(timeoutMs ?? maxTimeoutMs, maxTimeoutMs);
      const workspaceDir = ctx.workspaceDir;
      let profile = opts.profile;
      let quotaNote = '';
      const quotaBytes = opts.quotaBytes;
      // A workspace already over its quota may not grow any further, but deleting must work.
      let ceilingBytes = quotaBytes;
      if (quotaBytes !== undefined) {
        const usage = await workspaceUsage(workspaceDir, opts.maxEntries);
        const left = remainingBytes(usage, quotaBytes);
        // Too many entries to count: files cannot grow (limit 0 below), and the watch falls back to the filesystem's counters.
        ceilingBytes = usage.incomplete ? undefined : Math.max(quotaBytes, usage.bytes);
        // No single file may outgrow the space left; at 0 nothing may grow, but rm still works.
        profile = { ...profile, limits: { ...profile.limits, fileSizeBytes: Math.min(profile.limits.fileSizeBytes, left) } };
        if (left === 0) quotaNote = `note: the workspace is at its disk quota of ${quotaBytes} bytes; files cannot grow until you delete some\n`;
      }
      const watch = quotaBytes === undefined ? undefined : await quotaWatch(workspaceDir, quotaBytes, ceilingBytes, opts.quotaCheckMs ?? 200, opts.maxEntries);
      let result: SandboxResult;
      try {
        result = await runSandboxed(profile, { command, workspaceDir, timeoutMs: limitMs, killAfterOutputBytes, keepBytes, signal: ctx.signal, ...(watch ? { watch } : {}) });
      } catch (err) {
        throw new ToolError('sandbox_unavailable', `the sandbox could not be started: ${(err as Error).message}`, { cause: err });
      }
      const head = quotaNote + status(result, limitMs, killAfterOutputBytes);
      // The output fits the run's cap by itself: cut at its end by the runner, stderr would go first.
      const room = (ctx.maxOutputBytes ?? 2 * keepBytes + 1024) - Buffer.byteLength(head) - 1;
      // A command the runner had to kill is a failed run (with its partial output); a non-zero
      // exit code is not: the model reads it like a shell user would. The runner wraps a run's
      // output as untrusted data; a failed run's is wrapped here, its status line left outside.
      if (result.killed) {
        const text = `${head}\n${wrapUntrusted('tool:shell', {}, printed(result, room - WRAPPER_BYTES), room)}`;
        if (result.killed === 'output_limit') throw new ToolError('too_large', text);
        if (result.killed === 'disk_quota') throw new ToolError('quota_exceeded', text);
        if (result.killed === 'memory') throw new ToolError('memory_limit', text);
        throw new ToolError('timeout', text, { retryable: false });
      }
      return `${head}\n${printed(result, room)}`;
    },
  });
  return tool as unknown as ToolPlugin;
}
