import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** How to start a stdio MCP server. */
export interface StdioTransportOptions {
  command: string;
  args: string[];
  /** The child's complete environment; nothing is inherited from the runner. */
  env: Record<string, string>;
  cwd?: string;
  /**
   * Called with each line the server writes to stderr, cut to 1000 characters (a longer line is
   * reported, cut, once it gets that long; the rest of it is dropped).
   */
  onStderr?: (line: string) => void;
  /**
   * Bytes one JSON-RPC message on stdout may take before its newline (default 64 MiB). A server
   * that writes more is broken: the connection is dropped instead of buffering without bound.
   */
  maxMessageBytes?: number;
  /** How long `close()` waits after closing stdin, and again after SIGTERM, in ms (default 2000). */
  gracefulExitMs?: number;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Characters of one stderr line that are reported. */
const STDERR_LINE_CHARS = 1000;

/**
 * Splits text into lines for `onLine`, keeping at most `maxChars` of a line: a longer one is
 * reported, cut and marked with `…`, as soon as it is that long, and the rest of it dropped.
 * Returns the function to feed chunks to and one to report a last unterminated line.
 */
export function boundedLines(onLine: (line: string) => void, maxChars = STDERR_LINE_CHARS): { push(chunk: string): void; end(): void } {
  let carry = '';
  let dropping = false;
  const emit = (line: string) => onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  return {
    push(chunk) {
      const parts = chunk.split('\n');
      const last = parts.pop()!;
      for (const part of parts) {
        if (!dropping) emit(carry + part);
        carry = '';
        dropping = false;
      }
      if (dropping) return;
      carry += last;
      if (carry.length > maxChars) {
        onLine(`${carry.slice(0, maxChars)}…`);
        carry = '';
        dropping = true;
      }
    },
    end() {
      if (!dropping && carry) emit(carry);
      carry = '';
    },
  };
}

/**
 * MCP client transport over a child process's stdin/stdout.
 *
 * Unlike the SDK's `StdioClientTransport` it (1) gives the child exactly the environment it is
 * told to — the SDK's adds HOME, USER, SHELL and friends from the runner — and (2) starts the child
 * as the leader of its own process group and signals the whole group on close, so a server started
 * through a wrapper (`npx`, `uvx`, a shell script) leaves no grandchildren behind.
 */
export class ChildProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly opts: StdioTransportOptions;
  /**
   * The unterminated message so far, as the chunks it came in. Not the SDK's `ReadBuffer`: it
   * stops at 10 MiB whatever `maxMessageBytes` says, and re-copies and re-scans the whole pending
   * message for every chunk (quadratic in its size).
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  private closed = false;

  constructor(opts: StdioTransportOptions) {
    this.opts = opts;
  }

  /** Process id of the child (also its process group id), once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('ChildProcessTransport already started');
    const child = spawn(this.opts.command, this.opts.args, {
      env: this.opts.env,
      ...(this.opts.cwd !== undefined ? { cwd: this.opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group (setsid), so close() can signal every process the server started.
      detached: true,
      shell: false,
      windowsHide: true,
    });
    this.child = child;
    this.exited = once(child, 'exit').catch(() => undefined);
    const maxMessageBytes = this.opts.maxMessageBytes ?? 64 * 1024 * 1024;
    let broken = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (broken) return;
      const newline = chunk.lastIndexOf(10);
      if ((newline === -1 ? this.pendingBytes + chunk.length : chunk.length - newline - 1) > maxMessageBytes) {
        broken = true;
        this.clearPending();
        this.onerror?.(new Error(`the server wrote more than ${maxMessageBytes} bytes without ending a message; disconnecting`));
        void this.close();
        return;
      }
      try {
        let start = 0;
        for (let end = chunk.indexOf(10); end !== -1 && end <= newline; end = chunk.indexOf(10, start)) {
          const piece = chunk.subarray(start, end);
          const line = this.pending.length > 0 ? Buffer.concat([...this.pending, piece]) : piece;
          this.clearPending();
          start = end + 1;
          this.onmessage?.(deserializeMessage(line.toString('utf8').replace(/\r$/, '')));
        }
        if (start < chunk.length) {
          this.pending.push(chunk.subarray(start));
          this.pendingBytes += chunk.length - start;
        }
      } catch (err) {
        // A line that is not JSON-RPC: the server is broken; report it and drop the connection.
        broken = true;
        this.clearPending();
        this.onerror?.(err as Error);
        void this.close();
      }
    });
    child.stdin!.on('error', (err) => this.onerror?.(err));
    child.stdout!.on('error', (err) => this.onerror?.(err));
    const stderr = boundedLines((line) => this.opts.onStderr?.(line));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => stderr.push(text));
    child.stderr!.on('end', () => stderr.end());
    child.on('close', () => {
      this.clearPending();
      // Make sure nothing it started outlives it.
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      this.closed = true;
      this.onclose?.();
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => {
        this.closed = true;
        reject(err);
      });
    });
    child.on('error', (err) => this.onerror?.(err));
  }

  private clearPending(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.closed || stdin.destroyed) throw new Error('not connected: the server process is not running');
    if (!stdin.write(serializeMessage(message))) await once(stdin, 'drain');
  }

  /**
   * Ends the server: closes its stdin (the MCP way to ask a stdio server to exit), then SIGTERM to
   * its process group, then SIGKILL. Resolves when the child has exited.
   */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined) return;
    const graceMs = this.opts.gracefulExitMs ?? 2_000;
    const pid = child.pid;
    const exited = this.exited!;
    const wait = (ms: number) =>
      Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      if (!(await wait(graceMs))) {
        signalGroup(pid, 'SIGTERM');
        if (!(await wait(graceMs))) {
          signalGroup(pid, 'SIGKILL');
          await wait(graceMs);
        }
      }
    }
    // Children the server left behind in its group.
    signalGroup(pid, 'SIGKILL');
  }
}
