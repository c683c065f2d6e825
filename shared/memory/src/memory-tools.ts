import { z } from 'zod';
import { defineTool, type ToolContext, type ToolPlugin } from '@switchboard/tools';
import type { MemoryStore } from './memory-store.ts';
import { userScope, type MemoryRecord, type ScopeRef } from './types.ts';

const Remember = z.object({
  content: z.string().trim().min(3).max(1000).describe('the fact or preference, as one standalone sentence ("The user prefers metric units.")'),
  kind: z.enum(['fact', 'preference', 'note']).optional().describe('default fact'),
  importance: z.number().min(0).max(1).optional().describe('0..1, default 0.7: how much this should matter later'),
  scope: z
    .enum(['user', 'session'])
    .optional()
    .describe('user (default in a one-to-one conversation): about the user, remembered in all their conversations; session (default in a group): only this conversation'),
});
const Recall = z.object({
  query: z.string().trim().min(1).max(500).describe('what to look for, in words'),
  limit: z.number().int().min(1).max(20).optional().describe('default 5'),
});
const Forget = z.object({
  id: z.number().int().positive().optional().describe('the memory id (as shown by recall)'),
  query: z.string().trim().min(1).max(500).optional().describe('delete memories containing all of these words'),
});

/**
 * The scopes a tool run may touch: always derived from the job (the requesting user and session),
 * never from the model's arguments. The user's own memories only in their own conversation (one
 * speaker, not a group), as the turn's recall: in a group, the answer goes to everyone.
 */
function scopes(ctx: ToolContext, agent: string): ScopeRef[] {
  const shared: ScopeRef[] = [{ scope: 'session', scopeId: ctx.sessionKey }, { scope: 'agent', scopeId: agent }];
  return ctx.personal ? [userScope(ctx.platform, ctx.userId), ...shared] : shared;
}
const show = (m: MemoryRecord) => `#${m.id} [${m.scope}${m.kind === 'fact' ? '' : `, ${m.kind}`}] ${m.content}`;

/**
 * `remember`, `recall` and `forget`: the model's own access to long-term memory. Every call is
 * confined to the requesting user's memories, the current session's and the agent's shared ones
 * (readable, not writable or deletable by the model).
 */
export function createMemoryTools(store: MemoryStore, opts: { agent: string }): ToolPlugin[] {
  const remember = defineTool({
    name: 'remember',
    description: 'Store a durable fact or preference in long-term memory so it is available in later conversations. Use it when the user tells you something worth keeping or asks you to remember something.',
    risk: 'low',
    outputTrusted: true,
    timeoutMs: 30_000,
    parameters: Remember,
    execute: async (args, ctx) => {
      if (args.scope === 'user' && !ctx.personal) throw new Error('in a group conversation only this conversation’s memory can be written (scope session)');
      const scope: ScopeRef = args.scope === 'session' || !ctx.personal ? { scope: 'session', scopeId: ctx.sessionKey } : userScope(ctx.platform, ctx.userId);
      const saved = await store.add({
        ...scope,
        content: args.content,
        kind: args.kind ?? 'fact',
        importance: args.importance ?? 0.7,
        userId: ctx.userId,
        platform: ctx.platform,
        sessionId: ctx.sessionKey,
        sourceTurnId: ctx.turnId,
        source: 'remember',
      });
      return saved.outcome === 'merged' ? `updated memory #${saved.id}` : `remembered as #${saved.id}`;
    },
  });
  const recall = defineTool({
    name: 'recall',
    description: 'Search long-term memory (by meaning and by keyword) for facts and preferences about the user and earlier conversations.',
    risk: 'low',
    outputTrusted: false,
    timeoutMs: 30_000,
    parameters: Recall,
    execute: async (args, ctx) => {
      const found = await store.search({ scopes: scopes(ctx, opts.agent), query: args.query, limit: args.limit ?? 5 });
      return found.length === 0 ? 'no matching memories' : found.map(show).join('\n');
    },
  });
  const forget = defineTool({
    name: 'forget',
    description: 'Delete memories: one by its id (from recall), or those containing all the words of a query. Use it when the user asks you to forget something or a memory is wrong.',
    risk: 'medium',
    outputTrusted: true,
    timeoutMs: 30_000,
    parameters: Forget,
    execute: async (args, ctx) => {
      if (args.id === undefined && args.query === undefined) throw new Error('give the memory id or a query');
      // The agent's shared memories are not the model's to delete.
      const own = scopes(ctx, opts.agent).filter((s) => s.scope !== 'agent');
      const gone = await store.forget({ scopes: own, ...(args.id !== undefined ? { id: args.id } : { query: args.query! }) });
      return gone.length === 0 ? 'nothing matched; no memory was deleted' : `forgot ${gone.length}: ${gone.map(show).join('; ')}`;
    },
  });
  return [remember, recall, forget] as unknown as ToolPlugin[];
}
