import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema, type CallToolResult, type JSONRPCMessage, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '@switchboard/observability';
import { boundedFetch } from './bounded-fetch.ts';
import type { McpServerConfig } from './config.ts';
import { classifyMcpError } from './errors.ts';
import { mcpSchemaValidators } from './schema-validators.ts';
import { ChildProcessTransport } from './stdio-transport.ts';

/** `connecting`: first attempt running; `connected`; `waiting`: down, a reconnect is scheduled; `closed`. */
export type McpConnectionState = 'connecting' | 'connected' | 'waiting' | 'closed';

/** Timing of one connection. */
export interface McpConnectionOptions {
  logger: Logger;
  /** Deadline of connecting (spawn + initialize) and of each `tools/list` page, in ms. */
  connectTimeoutMs: number;
  /** Interval of health pings while connected, in ms; 0 turns them off. A failed ping reconnects. */
  pingIntervalMs: number;
  /** Reconnect delays: `initialMs` doubling per failed attempt up to `maxMs`, each with up to 50% jitter. */
  backoff: { initialMs: number; maxMs: number };
  /** Called after the server's tool list was (re)read and differs from before. */
  onToolsChanged: () => void;
  /** Called when the connection goes up or down. */
  onStateChanged?: (connected: boolean) => void;
  /** Time limit of one tool call in ms (default the server's `timeoutMs`, else 60 000): an HTTP answer is not read past it. */
  callTimeoutMs?: number;
  /** Bytes one message from the server may take (default 64 MiB, as over stdio); a server that sends more is cut off. */
  maxMessageBytes?: number;
}

/** Bytes one message from a server may take unless told otherwise (the stdio transport's default too). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** How long an HTTP answer may stay open past the longest request's time limit. */
const ANSWER_GRACE_MS = 1_000;

const CLIENT_INFO = { name: 'switchboard-tool-runner', version: '0.1.0' };
const MAX_TOOL_PAGES = 100;
/**
 * Most tools one server may offer; the rest of its list is ignored (with a warning). Every tool
 * costs the SDK's parse of its definition and an Ajv compile of its schema, synchronously on the
 * event loop, at every list change: a server listing tens of thousands would stall the runner
 * for seconds each time. A model takes no more than 128 tools per request anyway.
 */
export const MAX_TOOLS_PER_SERVER = 512;

/**
 * `message` with at most {@link MAX_TOOLS_PER_SERVER} tools when it is a `tools/list` answer, cut
 * before the SDK parses (and validates) each one.
 */
function capToolList(message: JSONRPCMessage): JSONRPCMessage {
  const result = (message as { result?: { tools?: unknown } }).result;
  if (!result || !Array.isArray(result.tools) || result.tools.length <= MAX_TOOLS_PER_SERVER) return message;
  return { ...message, result: { ...result, tools: result.tools.slice(0, MAX_TOOLS_PER_SERVER) } } as JSONRPCMessage;
}
const STDERR_TAIL_LINES = 10;

/** Characters of an error message kept (for `lastError` and the log), as for a line of a stdio server's stderr. */
const ERROR_MESSAGE_CHARS = 1000;

/**
 * An error's message, cut to {@link ERROR_MESSAGE_CHARS}: a transport error carries the server's
 * response body ("Error POSTing to endpoint: <body>"), which may be of any size.
 */
function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length <= ERROR_MESSAGE_CHARS ? message : `${message.slice(0, ERROR_MESSAGE_CHARS)}…`;
}

/**
 * One configured MCP server: connects, keeps its tool list current (pagination, and
 * `notifications/tools/list_changed`), calls tools, and when the connection is lost (the process
 * exited, the HTTP session vanished, a ping failed) reconnects with exponential backoff. While it is
 * down `onStateChanged(false)` tells the source, which stops offering its tools; a call that still
 * reaches it fails fast as `remote_unreachable`.
 */
export class McpServerConnection {
  readonly config: McpServerConfig;
  private readonly opts: McpConnectionOptions;
  private readonly log: Logger;
  private client: Client | undefined;
  private connecting: { client: Client; toolsChanged: boolean } | undefined;
  private transportPid: number | undefined;
  private currentTools: Tool[] = [];
  private toolsSignature = '[]';
  private stateValue: McpConnectionState = 'connecting';
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private refresh: { running: Promise<void>; again: boolean } | undefined;
  private lastErrorValue: string | undefined;
  private readonly stderrTail: string[] = [];

  constructor(config: McpServerConfig, opts: McpConnectionOptions) {
    this.config = config;
    this.opts = opts;
    this.log = opts.logger.child({ mcpServer: config.name });
  }

  get state(): McpConnectionState {
    return this.stateValue;
  }

  /** The server's tools as last listed (tools that require the task API are left out). */
  get tools(): readonly Tool[] {
    return this.currentTools;
  }

  /** Why the last attempt or the connection failed, if it did. */
  get lastError(): string | undefined {
    return this.lastErrorValue;
  }

  /** Process id of a stdio server's child while connected. */
  get pid(): number | undefined {
    return this.client ? this.transportPid : undefined;
  }

  /** Where the server is, for logs: the command or the URL's origin (never path, query or headers). */
  get target(): string {
    return this.config.transport === 'stdio' ? this.config.command : new URL(this.config.url).origin;
  }

  /**
   * First connection attempt. Resolves `true` when connected; on failure logs, schedules retries
   * with backoff and resolves `false` — it never throws, so one bad server cannot stop the others.
   */
  async start(): Promise<boolean> {
    try {
      await this.connectOnce();
      return true;
    } catch {
      this.failures = 1;
      this.log.error(
        { transport: this.config.transport, target: this.target, reason: this.lastErrorValue, stderr: this.stderrTail.slice() },
        `MCP server ${this.config.name} could not be connected; skipping it for now and retrying in the background`,
      );
      this.scheduleReconnect();
      return false;
    }
  }

  private createTransport(): Transport {
    const cfg = this.config;
    if (cfg.transport === 'stdio') {
      const transport = new ChildProcessTransport({
        command: cfg.command,
        args: cfg.args,
        env: cfg.env,
        ...(cfg.cwd !== undefined ? { cwd: cfg.cwd } : {}),
        ...(this.opts.maxMessageBytes !== undefined ? { maxMessageBytes: this.opts.maxMessageBytes } : {}),
        onStderr: (line) => {
          this.stderrTail.push(line);
          if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
          this.log.debug({ stderr: line }, 'MCP server stderr');
        },
      });
      return transport;
    }
    const callTimeoutMs = this.opts.callTimeoutMs ?? cfg.timeoutMs ?? 60_000;
    return new StreamableHTTPClientTransport(new URL(cfg.url), {
      requestInit: { headers: cfg.headers },
      // The SDK reads answers whole and past the call's end; bound both (see boundedFetch).
      fetch: boundedFetch({
        maxMessageBytes: this.opts.maxMessageBytes ?? MAX_MESSAGE_BYTES,
        // tools/call waits up to the call's time limit; initialize, tools/list and ping the connect timeout.
        answerDeadlineMs: (method) =>
          (method === 'tools/call' ? callTimeoutMs : method === undefined ? Math.max(callTimeoutMs, this.opts.connectTimeoutMs) : this.opts.connectTimeoutMs) + ANSWER_GRACE_MS,
      }),
      reconnectionOptions: { initialReconnectionDelay: 1_000, maxReconnectionDelay: 10_000, reconnectionDelayGrowFactor: 2, maxRetries: 2 },
    });
  }

  private async connectOnce(): Promise<void> {
    const timeoutMs = this.opts.connectTimeoutMs;
    const client = new Client(CLIENT_INFO, { capabilities: {}, jsonSchemaValidator: mcpSchemaValidators() });
    this.connecting = { client, toolsChanged: false };
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      if (this.client === client) this.requestRefresh(client);
      else if (this.connecting?.client === client) this.connecting.toolsChanged = true;
    });
    client.onclose = () => this.lost(client, 'the connection closed');
    // Transport noise (an SSE stream that dropped and will be retried); failures that matter surface as failed requests.
    client.onerror = (err) => this.log.debug({ err: { message: err.message } }, 'MCP transport error');
    const transport = this.createTransport();
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([client.connect(transport, { timeout: timeoutMs }), deadline]);
      // The client has installed its message handler: tool lists reach it cut to size.
      const deliver = transport.onmessage;
      if (deliver) {
        transport.onmessage = (message, extra) => {
          const capped = capToolList(message);
          if (capped !== message) this.log.warn({ max: MAX_TOOLS_PER_SERVER }, 'MCP server lists more tools than one server may offer; using the first ones');
          deliver(capped, extra);
        };
      }
      const tools = await Promise.race([this.listAllTools(client), deadline]);
      if (this.stateValue === 'closed') throw new Error('closed while connecting');
      const again = this.connecting?.toolsChanged ?? false;
      this.connecting = undefined;
      this.client = client;
      this.transportPid = transport instanceof ChildProcessTransport ? transport.pid : undefined;
      this.stateValue = 'connected';
      this.lastErrorValue = undefined;
      this.failures = 0;
      this.setTools(tools);
      this.startPings(client);
      this.opts.onStateChanged?.(true);
      const version = client.getServerVersion();
      this.log.info(
        { transport: this.config.transport, target: this.target, server: version ? `${version.name} ${version.version}` : undefined, tools: tools.length, pid: this.transportPid },
        `MCP server ${this.config.name} connected`,
      );
      if (again) this.requestRefresh(client);
    } catch (err) {
      this.connecting = undefined;
      this.lastErrorValue = messageOf(err);
      await client.close().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async listAllTools(client: Client): Promise<Tool[]> {
    if (!client.getServerCapabilities()?.tools) return [];
    const tools: Tool[] = [];
    const cursors = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: this.opts.connectTimeoutMs });
      tools.push(...result.tools);
      if (tools.length >= MAX_TOOLS_PER_SERVER) {
        // More on later pages (one page's excess is cut, and reported, as it arrives).
        if (tools.length > MAX_TOOLS_PER_SERVER || result.nextCursor !== undefined) {
          this.log.warn({ max: MAX_TOOLS_PER_SERVER }, 'MCP server lists more tools than one server may offer; using the first ones');
        }
        tools.length = MAX_TOOLS_PER_SERVER;
        break;
      }
      cursor = result.nextCursor;
      if (cursor === undefined) break;
      if (cursors.has(cursor)) throw new Error('tools/list returned a cursor it had returned before');
      cursors.add(cursor);
      if (page === MAX_TOOL_PAGES - 1) this.log.warn({ pages: MAX_TOOL_PAGES }, 'MCP server lists too many pages of tools; using the first ones');
    }
    return tools.filter((tool) => {
      // Tools that can only run as tasks need the experimental task API, which we do not speak.
      if (tool.execution?.taskSupport !== 'required') return true;
      this.log.info({ tool: tool.name }, 'MCP tool requires task-based execution; not offered');
      return false;
    });
  }

  private setTools(tools: Tool[]): void {
    const signature = JSON.stringify(tools.map((t) => [t.name, t.title, t.description, t.inputSchema]));
    this.currentTools = tools;
    if (signature === this.toolsSignature) return;
    this.toolsSignature = signature;
    this.opts.onToolsChanged();
  }

  /** Re-reads the tool list; concurrent requests collapse into one more read after the running one. */
  private requestRefresh(client: Client): void {
    if (this.refresh) {
      this.refresh.again = true;
      return;
    }
    const run = async (): Promise<void> => {
      try {
        const tools = await this.listAllTools(client);
        if (this.client === client) {
          this.setTools(tools);
          this.log.info({ tools: tools.length }, 'MCP tool list refreshed');
        }
      } catch (err) {
        this.log.warn({ err: { message: messageOf(err) } }, 'refreshing the MCP tool list failed');
      }
    };
    const state = { running: Promise.resolve(), again: false };
    state.running = (async () => {
      do {
        state.again = false;
        await run();
      } while (state.again && this.client === client);
      this.refresh = undefined;
    })();
    this.refresh = state;
  }

  private startPings(client: Client): void {
    if (this.opts.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      client.ping({ timeout: this.opts.connectTimeoutMs }).catch((err: unknown) => this.lost(client, `ping failed (${messageOf(err)})`));
    }, this.opts.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** The connection of `client` is gone: drop it and reconnect later. No-op for a stale client. */
  private lost(client: Client, reason: string): void {
    if (this.client !== client || this.stateValue === 'closed') return;
    this.client = undefined;
    this.transportPid = undefined;
    clearInterval(this.pingTimer);
    this.stateValue = 'waiting';
    this.lastErrorValue = reason;
    this.opts.onStateChanged?.(false);
    this.log.warn({ reason, stderr: this.stderrTail.slice() }, `MCP server ${this.config.name} connection lost; reconnecting`);
    void client.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'waiting';
    const { initialMs, maxMs } = this.opts.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures, 30));
    const delayMs = Math.round(base * (0.5 + Math.random() * 0.5));
    this.retryTimer = setTimeout(() => void this.retry(), delayMs);
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    if (this.stateValue === 'closed') return;
    try {
      await this.connectOnce();
    } catch {
      // close() may have run while we were connecting.
      if (this.state === 'closed') return;
      this.failures++;
      // Loud for the first attempts, then every tenth, so a server that stays down does not flood the log.
      const level = this.failures <= 3 || this.failures % 10 === 0 ? 'warn' : 'debug';
      this.log[level]({ attempt: this.failures, reason: this.lastErrorValue }, `MCP server ${this.config.name} still unreachable`);
      this.scheduleReconnect();
    }
  }

  /**
   * Calls tool `name` (the server's own name). Throws when not connected; a transport failure also
   * starts a reconnect. `signal` cancels the call (the server is sent `notifications/cancelled`).
   */
  async callTool(name: string, args: Record<string, unknown>, opts: { signal: AbortSignal; timeoutMs: number }): Promise<CallToolResult> {
    const client = this.client;
    if (!client) throw Object.assign(new Error('not connected'), { notConnected: true });
    try {
      const result = await client.callTool({ name, arguments: args }, undefined, { signal: opts.signal, timeout: opts.timeoutMs, maxTotalTimeout: opts.timeoutMs });
      return result as CallToolResult;
    } catch (err) {
      if (classifyMcpError(err, opts.signal.aborted).connectionLost) this.lost(client, messageOf(err));
      throw err;
    }
  }

  /** Closes the connection for good and stops retrying; a stdio server's process group is ended. */
  async close(): Promise<void> {
    this.stateValue = 'closed';
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const clients = [this.client, this.connecting?.client].filter((c): c is Client => c !== undefined);
    this.client = undefined;
    this.connecting = undefined;
    await Promise.all(
      clients.map(async (client) => {
        const transport = client.transport;
        if (transport instanceof StreamableHTTPClientTransport) {
          // Tell the server the session is over; it may not support DELETE, and may be gone.
          await Promise.race([transport.terminateSession().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
        }
        await client.close().catch(() => undefined);
      }),
    );
    await this.refresh?.running;
  }
}
