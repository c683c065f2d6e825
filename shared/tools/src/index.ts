export { defineTool, toDefinition, DEFAULT_TOOL_TIMEOUT_MS } from './plugin.ts';
export type { ToolPlugin, ToolContext } from './plugin.ts';
export { ToolCatalog } from './catalog.ts';
export { ToolCallValidator } from './validate.ts';
export type { ToolCallCheck } from './validate.ts';
export { ApprovalBoard, argumentsDigest } from './approval-board.ts';
export type { ApprovalState, ApprovalStatus, DecideResult } from './approval-board.ts';
export { UNTRUSTED_NOTE, cutUtf8, defuseUntrusted, refitUntrusted, wrapUntrusted } from './untrusted.ts';
