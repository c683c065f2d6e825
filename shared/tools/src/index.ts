export { defineTool, toDefinition, DEFAULT_TOOL_TIMEOUT_MS } from './plugin.ts';
export type { ToolPlugin, ToolContext } from './plugin.ts';
export { ToolCatalog } from './catalog.ts';
export { ToolCallValidator } from './validate.ts';
export type { ToolCallCheck } from './validate.ts';
