import { z } from 'zod';
import { OutboundReply } from './messages.ts';

/** Everything a queue needs to be produced and consumed the same way everywhere. */
export interface QueueContract<S extends z.ZodType> {
  /** BullMQ queue name: no `:`. */
  name: string;
  schema: S;
  /** Default job options (plain object so contracts does not depend on BullMQ). */
  defaults: {
    attempts: number;
    backoffMs: number;
    removeOnCompleteAgeSeconds: number;
    removeOnFailAgeSeconds: number;
  };
}

function defineQueue<S extends z.ZodType>(contract: QueueContract<S>): QueueContract<S> {
  if (contract.name.includes(':')) throw new Error(`queue name ${contract.name} must not contain ':'`);
  return contract;
}

/** Makes any string safe as a BullMQ job id: no `:`, never a bare integer. */
export function safeJobId(...parts: string[]): string {
  return parts.join('-').replace(/[^A-Za-z0-9._=+-]/g, '_');
}

/** One job per session at a time (BullMQ deduplication on the session key); it drains the inbox. */
export const TurnJob = z.object({
  v: z.literal(1),
  sessionKey: z.string().min(1),
});
export type TurnJob = z.infer<typeof TurnJob>;

export const TURN_QUEUE = defineQueue({
  name: 'turns',
  schema: TurnJob,
  defaults: { attempts: 5, backoffMs: 500, removeOnCompleteAgeSeconds: 60, removeOnFailAgeSeconds: 7 * 24 * 3600 },
});

/** A tool call to run. Job id: `safeJobId(turnId, toolCallId)` so a resumed turn finds the finished run. */
export const ToolJob = z.object({
  v: z.literal(1),
  turnId: z.string().min(1),
  toolCallId: z.string().min(1),
  sessionKey: z.string().min(1),
  platform: z.string().min(1),
  userId: z.string().min(1),
  tool: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()),
  /** Optional so jobs enqueued by older workers still parse. */
  timeoutMs: z.number().int().positive().optional(),
  /** The agent the turn runs as (policy scope). */
  agent: z.string().optional(),
  /** Set when policy asked a human and they approved; the tool-runner checks it again. */
  approvalId: z.string().optional(),
  /**
   * Run without holding the session's lane: the turn goes on at once and the runner posts the
   * result into the session as a system event, addressed with the fields below.
   */
  background: z.boolean().optional(),
  account: z.string().optional(),
  chatId: z.string().optional(),
  threadId: z.string().optional(),
  /**
   * The turn is one person's own conversation: one speaker, outside a group chat. Only then may a
   * tool reach that user's private data (their memories); absent means it may not.
   */
  personal: z.boolean().optional(),
});
export type ToolJob = z.infer<typeof ToolJob>;

export const ToolResult = z.object({
  ok: z.boolean(),
  output: z.string(),
  truncated: z.boolean().default(false),
  errorCode: z.string().optional(),
  durationMs: z.number().nonnegative(),
});
export type ToolResult = z.infer<typeof ToolResult>;

export const TOOL_QUEUE = defineQueue({
  name: 'tools',
  schema: ToolJob,
  // A tool run is never retried by the queue: side effects must not happen twice.
  defaults: { attempts: 1, backoffMs: 0, removeOnCompleteAgeSeconds: 24 * 3600, removeOnFailAgeSeconds: 7 * 24 * 3600 },
});

/**
 * A tool call waiting for a person's decision, to be shown in a chat as Approve/Deny buttons. Sent
 * through the platform's outbound queue (durable: a channel replica restarting in between still
 * shows it); the press comes back as an inbound interaction that decides it on the ApprovalBoard.
 */
export const ApprovalNotice = z.object({
  id: z.string().min(1),
  turnId: z.string().min(1),
  sessionKey: z.string().min(1),
  platform: z.string().min(1),
  account: z.string().min(1),
  chatId: z.string().min(1),
  threadId: z.string().optional(),
  tool: z.string().min(1),
  /** Arguments with secrets already redacted. */
  arguments: z.unknown(),
});
export type ApprovalNotice = z.infer<typeof ApprovalNotice>;

/**
 * Work for one platform's outbound worker: a final reply (job id: the reply id) or an approval
 * prompt (job id: `ap-<approval id>`).
 */
export const OutboundJob = z.union([
  z.object({ v: z.literal(1), reply: OutboundReply }),
  z.object({ v: z.literal(1), approval: ApprovalNotice }),
]);
export type OutboundJob = z.infer<typeof OutboundJob>;

export function outboundQueue(platform: string): QueueContract<typeof OutboundJob> {
  return defineQueue({
    name: `outbound-${platform}`,
    schema: OutboundJob,
    defaults: { attempts: 20, backoffMs: 1000, removeOnCompleteAgeSeconds: 3600, removeOnFailAgeSeconds: 7 * 24 * 3600 },
  });
}

/** A tool as the model sees it; the tool-runner publishes these to the catalog. */
export const ToolDefinition = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string(),
  /** JSON Schema of the arguments object. */
  parameters: z.record(z.string(), z.unknown()),
  timeoutMs: z.number().int().positive(),
  risk: z.enum(['low', 'medium', 'high']).default('low'),
  /** Runs in the background: the model gets its result later, as a system event. */
  background: z.boolean().optional(),
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;
