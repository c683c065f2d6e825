import type { ToolJob, ToolResult } from '@switchboard/contracts';
import type { ToolPlugin } from '@switchboard/tools';
import { cutUtf8, DEFAULT_TOOL_TIMEOUT_MS, refitUntrusted } from '@switchboard/tools';
import { issuesText } from '@switchboard/contracts';

/**
 * Cuts `text` to at most `maxBytes` of UTF-8, on a character boundary. Output a tool wrapped as
 * untrusted is cut inside its wrapper, which stays whole and within `maxBytes`.
 */
export function capOutput(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const refitted = refitUntrusted(text, maxBytes);
  if (refitted !== undefined) return { text: refitted, truncated: true };
  const fitted = cutUtf8(text, maxBytes);
  return fitted.cut ? { text: `${fitted.text}\n[output truncated at ${maxBytes} bytes]`, truncated: true } : { text, truncated: false };
}

/** The error code a failed run reports: a thrown error's own `code` (e.g. `path_escape`) if it has one. */
function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z_]{0,39}$/.test(code) ? code : 'handler_error';
}

/** Options of one run. */
export interface RunToolOptions {
  /** Output cap in bytes. */
  maxOutputBytes: number;
  /** Aborting it aborts the run (runner shutdown). */
  signal?: AbortSignal;
  /** Per-session workspaces; the session's is created before the run and passed as `ctx.workspaceDir`. */
  workspaces?: { ensure(sessionKey: string): Promise<string> };
  /** The tool's settings in this scope: they can only shorten the time limit and the output cap. */
  settings?: { timeoutMs?: number; maxOutputBytes?: number; options?: Record<string, unknown> };
}

/**
 * Runs one tool call with its time limit and output cap. Never throws: a tool error, a timeout or
 * bad arguments become a failed result the model can read.
 */
export async function runTool(plugin: ToolPlugin, job: ToolJob, opts: RunToolOptions): Promise<ToolResult> {
  const started = performance.now();
  const pluginTimeoutMs = plugin.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  const timeoutMs = Math.min(job.timeoutMs ?? pluginTimeoutMs, pluginTimeoutMs, opts.settings?.timeoutMs ?? pluginTimeoutMs);
  const maxOutputBytes = Math.min(opts.maxOutputBytes, opts.settings?.maxOutputBytes ?? opts.maxOutputBytes);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const elapsed = () => performance.now() - started;
  try {
    const parsed = plugin.parameters.safeParse(job.arguments);
    if (!parsed.success) {
      return { ok: false, output: `invalid arguments: ${issuesText(parsed.error.issues)}`, truncated: false, errorCode: 'bad_request', durationMs: elapsed() };
    }
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'timeout' }));
        // Abort after rejecting: a tool that fails on abort must not be reported as its own error.
        controller.abort(new Error('timeout'));
      }, timeoutMs);
    });
    const execution = (async () => {
      // Inside the race: a slow workspace (disk) counts against the run's time limit too.
      const workspaceDir = opts.workspaces && plugin.usesWorkspace ? await opts.workspaces.ensure(job.sessionKey) : undefined;
      return plugin.execute(parsed.data, {
        sessionKey: job.sessionKey,
        userId: job.userId,
        platform: job.platform,
        turnId: job.turnId,
        toolCallId: job.toolCallId,
        signal: controller.signal,
        ...(workspaceDir ? { workspaceDir } : {}),
        ...(job.account ? { account: job.account } : {}),
        ...(job.chatId ? { chatId: job.chatId } : {}),
        ...(job.threadId ? { threadId: job.threadId } : {}),
        ...(job.personal ? { personal: true } : {}),
        settings: opts.settings?.options ?? {},
        maxOutputBytes,
      });
    })();
    const output = await Promise.race([execution, timeout]);
    const capped = capOutput(String(output), maxOutputBytes);
    return { ok: true, output: capped.text, truncated: capped.truncated, durationMs: elapsed() };
  } catch (err) {
    const code = timedOut ? 'timeout' : errorCodeOf(err);
    const message = timedOut ? `timed out after ${timeoutMs} ms` : err instanceof Error ? err.message : String(err);
    const capped = capOutput(message, maxOutputBytes);
    return { ok: false, output: capped.text, truncated: capped.truncated, errorCode: code, durationMs: elapsed() };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
