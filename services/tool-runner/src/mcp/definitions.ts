import type { Registry } from 'prom-client';
import type { ToolDefinition } from '@switchboard/contracts';
import { gauge } from '@switchboard/observability';
import { toDefinition, type ToolPlugin } from '@switchboard/tools';

/**
 * The model-facing definitions of MCP plugins, which carry the server's JSON Schema rather than a
 * zod one. Kept apart from the MCP client code so that a runner with no MCP server configured never
 * loads the MCP SDK (~20 MB of heap, ~0.2 s of start-up).
 */
const definitions = new WeakMap<ToolPlugin, ToolDefinition>();

/** Records the definition of an MCP plugin (its server's JSON Schema). */
export function setMcpDefinition(plugin: ToolPlugin, definition: ToolDefinition): void {
  definitions.set(plugin, definition);
}

/**
 * The definition to publish for any plugin: an MCP tool's own (the server's `inputSchema` as
 * JSON Schema), else the plugin SDK's `toDefinition`. Use this instead of `toDefinition` where MCP
 * plugins may appear — `toDefinition` throws for them, as their zod schema is not representable.
 */
export function definitionOf(plugin: ToolPlugin): ToolDefinition {
  return definitions.get(plugin) ?? toDefinition(plugin);
}

/** Whether `plugin` came from an MCP server. */
export function isMcpPlugin(plugin: ToolPlugin): boolean {
  return definitions.has(plugin);
}

/** `switchboard_mcp_server_connected{server}`: registered whether or not an MCP server is configured. */
export function mcpConnectedGauge(registry: Registry) {
  return gauge(registry, { name: 'switchboard_mcp_server_connected', help: 'Whether the tool runner is connected to a configured MCP server (1) or not (0)', labelNames: ['server'] as const });
}
