export { McpToolSource } from './tool-source.ts';
export type { McpSourceConfig, McpServerStatus, McpToolSourceOptions } from './tool-source.ts';
export { definitionOf, isMcpPlugin } from './mcp-tool.ts';
export { loadMcpServers, sanitizeServerName } from './config.ts';
export type { McpConfigInput, McpHttpServerConfig, McpServerConfig, McpStdioServerConfig } from './config.ts';
export { McpToolError } from './errors.ts';
export type { McpToolErrorCode } from './errors.ts';
