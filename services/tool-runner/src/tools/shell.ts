import { z } from 'zod';
import { defineTool, wrapUntrusted, type ToolPlugin } from '@switchboard/tools';
import type { SandboxProfile } from '../sandbox/bwrap.ts';
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
   * while it runs and the command is killed once it is over; a workspace over its quota only lets
   * commands delete or shrink files.
   */
  quotaBytes?: number;
  quotaCheckMs?: number;
}

/** Time the plugin allows beyond the sandbox's own limit, so the sandbox's kill (with partial output) wins. */
const REPORT_GRACE_MS = 5_000;

/** How the run ended, one line. */
function status(result: SandboxResult, timeoutMs: number, killAfterOutputBytes: number): string {
  if (result.killed === 'timeout') return `killed: time limit of ${timeoutMs} ms reached`;
  if (result.killed === 'output_limit') return `killed: output exceeded ${killAfterOutputBytes} bytes`;
  if (result.killed === 'aborted') return 'killed: the run was cancelled';
  if (result.killed === 'disk_quota') return 'killed: the workspace went over its disk quota';
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
        const usage = await workspaceUsage(workspaceDir);
        const left = remainingBytes(usage, quotaBytes);
        // Too many entries to count: files cannot grow (limit 0 below); the watch could only get in the way of cleaning up.
        ceilingBytes = usage.incomplete ? undefined : Math.max(quotaBytes, usage.bytes);
        // No single file may outgrow the space left; at 0 nothing may grow, but rm still works.
        profile = { ...profile, limits: { ...profile.limits, fileSizeBytes: Math.min(profile.limits.fileSizeBytes, left) } };
        if (left === 0) quotaNote = `note: the workspace is at its disk quota of ${quotaBytes} bytes; files cannot grow until you delete some\n`;
      }
      const watch =
        ceilingBytes === undefined
          ? undefined
          : { intervalMs: opts.quotaCheckMs ?? 200, exceeded: async () => remainingBytes(await workspaceUsage(workspaceDir), ceilingBytes + 1) === 0 };
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
        throw new ToolError('timeout', text, { retryable: false });
      }
      return `${head}\n${printed(result, room)}`;
    },
  });
  return tool as unknown as ToolPlugin;
}
