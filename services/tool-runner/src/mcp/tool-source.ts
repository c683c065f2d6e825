import type { Registry } from 'prom-client';
import type { ToolDefinition } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type { ToolPlugin } from '@switchboard/tools';
import type { McpServerConfig } from './config.ts';
import { mcpConnectedGauge } from './definitions.ts';
import { createMcpToolPlugin, definitionOf } from './mcp-tool.ts';
import { assignMcpToolNames } from './names.ts';
import { mcpSchemaValidators } from './schema-validators.ts';
import { McpServerConnection, type McpConnectionState } from './server-connection.ts';

/** The parts of the tool-runner configuration the MCP source reads (a `ToolRunnerConfig` fits). */
export interface McpSourceConfig {
  mcpServers: readonly McpServerConfig[];
  /** Deadline of connecting to one server and of each `tools/list` page, in ms. */
  MCP_CONNECT_TIMEOUT_MS: number;
  /** Default wall-time limit of one MCP tool call, in ms (a server's `timeoutMs` overrides it). */
  MCP_TOOL_TIMEOUT_MS: number;
  /** Health-ping interval of connected servers, in ms; 0 turns pings off. */
  MCP_PING_INTERVAL_MS: number;
  /** Output size handed to the model, in bytes. */
  TOOL_OUTPUT_MAX_BYTES: number;
}

/** Options mostly for tests. */
export interface McpToolSourceOptions {
  /** Reconnect backoff (default 500 ms doubling up to 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Registers `switchboard_mcp_server_connected{server}` (1 or 0) when given. */
  registry?: Registry;
}

/** How one configured server is doing. */
export interface McpServerStatus {
  server: string;
  transport: 'stdio' | 'http';
  state: McpConnectionState;
  /** Tools offered (model-facing names). */
  tools: string[];
  /** Process id of a connected stdio server. */
  pid?: number;
  lastError?: string;
}

/**
 * MCP servers as a tool source. `start` connects to every configured server at once (each within
 * MCP_CONNECT_TIMEOUT_MS); a server that fails is logged and retried in the background while the
 * others work. `plugins()` returns their tools as ordinary `ToolPlugin`s named
 * `mcp__<server>__<tool>`; it changes when a server announces a new tool list (a tool dropped is
 * no longer offered), goes away (none of its tools are offered until it is back), reconnects, or
 * connects late — `onChange` listeners are told. Publish them with
 * {@link definitionOf}, which carries each server's JSON Schema.
 */
export class McpToolSource {
  private readonly connections: McpServerConnection[] = [];
  private readonly config: McpSourceConfig;
  private readonly logger: Logger;
  private current: ToolPlugin[] = [];
  private byServer = new Map<string, ToolPlugin[]>();
  private readonly listeners = new Set<(plugins: readonly ToolPlugin[]) => void>();
  private started = false;

  private constructor(config: McpSourceConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
  }

  /** Connects to every configured server (in parallel) and resolves once each has connected or failed. */
  static async start(config: McpSourceConfig, logger: Logger, opts: McpToolSourceOptions = {}): Promise<McpToolSource> {
    const source = new McpToolSource(config, logger);
    const up = opts.registry ? mcpConnectedGauge(opts.registry) : undefined;
    for (const server of config.mcpServers) {
      up?.set({ server: server.name }, 0);
      const connection = new McpServerConnection(server, {
        logger,
        connectTimeoutMs: config.MCP_CONNECT_TIMEOUT_MS,
        pingIntervalMs: config.MCP_PING_INTERVAL_MS,
        backoff: opts.backoff ?? { initialMs: 500, maxMs: 30_000 },
        callTimeoutMs: server.timeoutMs ?? config.MCP_TOOL_TIMEOUT_MS,
        onToolsChanged: () => source.rebuild(connection),
        onStateChanged: (connected) => {
          up?.set({ server: server.name }, connected ? 1 : 0);
          // A server that went away offers nothing until it is back (with whatever it lists then).
          source.rebuild(connection);
        },
      });
      source.connections.push(connection);
    }
    await Promise.all(source.connections.map((c) => c.start()));
    source.started = true;
    if (source.connections.length > 0) {
      const connected = source.connections.filter((c) => c.state === 'connected').map((c) => c.config.name);
      logger.info({ servers: source.connections.length, connected, tools: source.current.length }, 'MCP tool source started');
    }
    return source;
  }

  /** The MCP tools offered now. The array is replaced, never mutated, when the tools change. */
  plugins(): readonly ToolPlugin[] {
    return this.current;
  }

  /** Model-facing definitions of {@link plugins}, with each server's JSON Schema. */
  definitions(): ToolDefinition[] {
    return this.current.map(definitionOf);
  }

  /** Calls `listener` with the new plugin list whenever it changes; returns an unsubscribe function. */
  onChange(listener: (plugins: readonly ToolPlugin[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Per-server state, for logs and diagnostics. */
  status(): McpServerStatus[] {
    return this.connections.map((c) => ({
      server: c.config.name,
      transport: c.config.transport,
      state: c.state,
      tools: (this.byServer.get(c.config.name) ?? []).map((p) => p.name),
      ...(c.pid !== undefined ? { pid: c.pid } : {}),
      ...(c.lastError !== undefined ? { lastError: c.lastError } : {}),
    }));
  }

  private rebuild(connection: McpServerConnection): void {
    const server = connection.config.name;
    if (connection.state !== 'connected') {
      if ((this.byServer.get(server) ?? []).length === 0) return;
      this.byServer.set(server, []);
      this.publishChange(server, []);
      return;
    }
    const naming = assignMcpToolNames(
      server,
      connection.tools.map((t) => t.name),
    );
    for (const { tool, reason } of naming.skipped) this.logger.warn({ mcpServer: server, tool, reason }, 'MCP tool not offered');
    const timeoutMs = connection.config.timeoutMs ?? this.config.MCP_TOOL_TIMEOUT_MS;
    const plugins: ToolPlugin[] = [];
    const validators = mcpSchemaValidators();
    for (const tool of connection.tools) {
      const exposedName = naming.names.get(tool.name);
      if (exposedName === undefined) continue;
      if (exposedName !== `mcp__${server}__${tool.name}`) this.logger.debug({ mcpServer: server, tool: tool.name, name: exposedName }, 'MCP tool renamed to fit tool-name rules');
      plugins.push(createMcpToolPlugin(connection, tool, { exposedName, timeoutMs, maxOutputBytes: this.config.TOOL_OUTPUT_MAX_BYTES, validators }));
    }
    const before = (this.byServer.get(server) ?? []).map((p) => definitionOf(p));
    this.byServer.set(server, plugins);
    // Reconnected with the very same tools: nothing to tell.
    if (JSON.stringify(before) === JSON.stringify(plugins.map((p) => definitionOf(p))) && before.length > 0) return;
    this.publishChange(server, plugins);
  }

  private publishChange(server: string, plugins: ToolPlugin[]): void {
    // Configuration order, then the server's order: stable for the catalog.
    this.current = this.connections.flatMap((c) => this.byServer.get(c.config.name) ?? []);
    if (!this.started) return;
    this.logger.info({ mcpServer: server, tools: plugins.map((p) => p.name) }, 'MCP tools changed');
    for (const listener of this.listeners) {
      try {
        listener(this.current);
      } catch (err) {
        this.logger.error({ err }, 'an MCP tool change listener threw');
      }
    }
  }

  /** Closes every connection and stops reconnecting; stdio servers' processes are ended. */
  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.all(this.connections.map((c) => c.close()));
  }
}
