export { SafeId, Attachment, DeliveryTarget, InboundMessage, OutboundReply, sessionKey, TokenUsage } from './messages.ts';
export type { SessionAddress } from './messages.ts';
export { SessionEvent } from './events.ts';
export type { StoredSessionEvent } from './events.ts';
export {
  safeJobId,
  TurnJob,
  TURN_QUEUE,
  ToolJob,
  ToolResult,
  TOOL_QUEUE,
  OutboundJob,
  ApprovalNotice,
  outboundQueue,
  ToolDefinition,
} from './queues.ts';
export type { QueueContract } from './queues.ts';
export { issueList, issuesText, SwitchboardError } from './errors.ts';
export { storableJson, storableText } from './text.ts';
export type { ErrorCode, FieldIssue } from './errors.ts';
