import type { Registry } from 'prom-client';
import { createLlmClient, type ChatToolCall, type LlmClient } from '@switchboard/llm';
import type { TurnContext } from '@switchboard/lanes';
import { MemoryService, memoryFromConfig, type TurnIdentity } from '@switchboard/memory';
import type { Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import type { AgentWorkerConfig } from './config.ts';
import type { TranscriptEntry } from './transcript.ts';

/** What memory adds to a turn's context. */
export interface RememberedContext {
  /** Transcript messages after the latest summary (newest `limit`), oldest first. */
  history: TranscriptEntry[];
  summary: string | undefined;
  /** Relevant long-term memories, best first. */
  memories: string[];
}

/** Memory as the turn runner uses it. */
export interface TurnMemory {
  /** Loads the history since the latest summary, the summary and the memories relevant to the turn's input. */
  prepare(ctx: TurnContext, historyLimit: number): Promise<RememberedContext>;
  /** After the turn committed (or on a resumed, already committed turn): extract and compact, once. Never throws. */
  afterTurn(ctx: TurnContext, budgetTokens: number): Promise<void>;
  /** Records the prompt size of one model call. */
  observePrompt(tokens: number): void;
}

/** The identity memory scopes a turn by: one user's own conversation only when one person speaks outside a group. */
export function turnIdentity(ctx: TurnContext, agent: string): TurnIdentity {
  const first = ctx.messages[0]!;
  const speakers = new Set(ctx.messages.map((m) => m.userId));
  return {
    sessionKey: ctx.sessionKey,
    platform: first.platform,
    userId: first.userId,
    agent,
    personal: speakers.size === 1 && !ctx.messages.some((m) => m.isGroup === true),
  };
}

const isHeartbeat = (ctx: TurnContext) => ctx.messages.every((m) => m.trigger === 'heartbeat');

/** Memory for the turn runner on top of {@link MemoryService}. */
export function createTurnMemory(db: Db, memory: MemoryService, agent: string): TurnMemory {
  return {
    async prepare(ctx, historyLimit) {
      type Row = { role: TranscriptEntry['role']; content: string; tool_calls: ChatToolCall[] | null; tool_call_id: string | null; tokens: number | null; summary: string | null };
      // One round trip: the newest summary (on every row, null without one) and the messages after it.
      const [{ rows }, found] = await Promise.all([
        db.query<Row>(
          `WITH s AS (SELECT content, to_seq FROM summaries WHERE session_id = $1 ORDER BY to_seq DESC LIMIT 1)
           SELECT m.role, m.content, m.tool_calls, m.tool_call_id, m.tokens, (SELECT content FROM s) AS summary
           FROM (SELECT 1) one LEFT JOIN LATERAL (
             SELECT role, content, tool_calls, tool_call_id, tokens, seq FROM messages
             WHERE session_id = $1 AND seq > coalesce((SELECT to_seq FROM s), 0) ORDER BY seq DESC LIMIT $2) m ON true
           ORDER BY m.seq DESC`,
          [ctx.sessionKey, historyLimit],
        ),
        memory.recall(turnIdentity(ctx, agent), ctx.messages.map((m) => m.text).join('\n')),
      ]);
      const summary = rows[0]?.summary ?? undefined;
      const history = rows.filter((r) => r.role !== null).reverse().map((r) => ({
        role: r.role,
        content: r.content,
        toolCalls: r.tool_calls ?? undefined,
        toolCallId: r.tool_call_id ?? undefined,
        tokens: r.tokens ?? undefined,
      }));
      return { history, summary, memories: found.map((m) => m.content) };
    },
    async afterTurn(ctx, budgetTokens) {
      if (isHeartbeat(ctx)) return;
      await memory.afterTurn(turnIdentity(ctx, agent), ctx.turnId, budgetTokens);
    },
    observePrompt(tokens) {
      memory.store.metrics.contextTokens.observe(tokens);
    },
  };
}

/** Builds turn memory from configuration: the memory store (hybrid or keyword-only), the summarizer model and the extraction mode. */
export function turnMemoryFromConfig(deps: {
  config: AgentWorkerConfig;
  db: Db;
  llm: LlmClient | undefined;
  registry: Registry;
  logger: Logger;
}): TurnMemory {
  const { config, llm } = deps;
  const store = memoryFromConfig(deps.db, config, { logger: deps.logger, registry: deps.registry });
  const summarizer =
    llm && config.SUMMARIZER_MODEL && config.SUMMARIZER_MODEL !== llm.model
      ? createLlmClient({
          ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
          ...(config.OPENAI_API_KEY ? { apiKey: config.OPENAI_API_KEY } : {}),
          model: config.SUMMARIZER_MODEL,
          fallbackModels: [llm.model],
          maxRetries: config.LLM_MAX_RETRIES,
          timeoutMs: config.LLM_TIMEOUT_MS,
          registry: deps.registry,
          logger: deps.logger,
        })
      : llm;
  const service = new MemoryService({
    db: deps.db,
    store,
    summarizer,
    extraction: config.MEMORY_EXTRACTION,
    recallLimit: config.MEMORY_RECALL_LIMIT,
    logger: deps.logger,
  });
  return createTurnMemory(deps.db, service, config.AGENT_NAME);
}
