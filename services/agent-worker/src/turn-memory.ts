import type { Counter, Registry } from 'prom-client';
import { createLlmClient, type ChatToolCall, type LlmClient } from '@switchboard/llm';
import type { TurnContext } from '@switchboard/lanes';
import { MemoryService, memoryFromConfig, rowTokens, type KnownTranscript, type ScopeMarks, type TurnIdentity } from '@switchboard/memory';
import { counter, type Logger } from '@switchboard/observability';
import { TRANSCRIPT_HISTORY_SQL, type Db, type TranscriptHistoryRow } from '@switchboard/store';
import type { AgentWorkerConfig } from './config.ts';
import { HistoryCache } from './history-cache.ts';
import type { TranscriptEntry } from './transcript.ts';

/** What memory adds to a turn's context. */
export interface RememberedContext {
  /** Transcript messages after the latest summary (newest `limit`), oldest first. */
  history: TranscriptEntry[];
  summary: string | undefined;
  /** Relevant long-term memories, best first. */
  memories: string[];
  /**
   * An upper bound of the prompt tokens of all messages after the latest summary (each message's
   * stored token count, or its size in bytes where it has none, which no tokenizer exceeds); only
   * when `history` may not hold them all (it has as many messages as were asked for).
   */
  unsummarizedTokensAtMost: number | undefined;
  /** The session's newest message seq when the history was read. */
  lastSeq: number;
  /** When the database read this history comes from was made (a cached history keeps its read's time). */
  readAtMs?: number | undefined;
}

/** Memory as the turn runner uses it. */
export interface TurnMemory {
  /** Loads the history since the latest summary, the summary and the memories relevant to the turn's input. */
  prepare(ctx: TurnContext, historyLimit: number): Promise<RememberedContext>;
  /**
   * The turn committed `added` on top of what `prepare` returned, as the messages after seq
   * `baseSeq`, leaving at most `unsummarizedTokensAtMost` (see {@link unsummarizedTokensAtMost}):
   * the session's next turn on this worker may start from them without reading them.
   */
  committed(
    ctx: TurnContext,
    prepared: RememberedContext,
    historyLimit: number,
    commit: { added: readonly TranscriptEntry[]; baseSeq: number; unsummarizedTokensAtMost: number | undefined },
  ): void;
  /** After the turn committed (or on a resumed, already committed turn): extract and compact, once. Never throws. */
  afterTurn(ctx: TurnContext, budgetTokens: number, known?: KnownTranscript): Promise<void>;
  /** Records the prompt size of one model call. */
  observePrompt(tokens: number): void;
}

/**
 * At most how many prompt tokens (as compaction counts them) a session's transcript holds since
 * its latest summary once `added` (the rows the turn committed) are in: exact when the prepared
 * history holds all of it (fewer rows than the limit asked for), else the database's bound.
 */
export function unsummarizedTokensAtMost(prepared: RememberedContext, historyLimit: number, added: readonly TranscriptEntry[]): number | undefined {
  const tokens = (rows: readonly TranscriptEntry[]) =>
    rows.reduce((n, e) => n + rowTokens({ seq: 0, role: e.role, content: e.content, toolCalls: e.toolCalls ?? null, tokens: e.tokens ?? null }), 0);
  const before = prepared.history.length < historyLimit ? tokens(prepared.history) : prepared.unsummarizedTokensAtMost;
  return before === undefined ? undefined : before + tokens(added);
}

/** Whether a turn is one user's own conversation: one person speaks, outside a group. */
export function isPersonalTurn(messages: readonly TurnContext['messages'][number][]): boolean {
  return new Set(messages.map((m) => m.userId)).size === 1 && !messages.some((m) => m.isGroup === true);
}

/**
 * The messages a turn answers: a check-in collected with other messages into one turn is left out
 * (of what the model is asked, of the transcript and of whose turn it is), as its pseudo-sender
 * would make a person's turn look like a group's; a turn of check-ins only answers them.
 */
export function answeredMessages<M extends { trigger?: string | undefined }>(messages: readonly M[]): readonly M[] {
  return messages.some((m) => m.trigger !== 'heartbeat') ? messages.filter((m) => m.trigger !== 'heartbeat') : messages;
}

/** The identity memory scopes a turn by: one user's own conversation only when one person speaks outside a group. */
export function turnIdentity(ctx: TurnContext, agent: string): TurnIdentity {
  const answered = answeredMessages(ctx.messages);
  const first = answered[0]!;
  return { sessionKey: ctx.sessionKey, platform: first.platform, userId: first.userId, agent, personal: isPersonalTurn(answered) };
}

const isHeartbeat = (ctx: TurnContext) => ctx.messages.every((m) => m.trigger === 'heartbeat');

type ReadHistory = Omit<RememberedContext, 'memories'>;

/** One round trip and one row: the summary, the token bound, the newest seq and the newest messages. */
async function readHistory(db: Db, sessionKey: string, historyLimit: number): Promise<ReadHistory> {
  const { rows } = await db.query<{ summary: string | null; at_most: number | string | null; last_seq: number | string; history: string }>(TRANSCRIPT_HISTORY_SQL, [
    sessionKey,
    historyLimit,
  ]);
  const row = rows[0]!;
  const history = (JSON.parse(row.history) as TranscriptHistoryRow[]).map((r) => ({
    role: r.role,
    content: r.content,
    toolCalls: (r.tool_calls as ChatToolCall[] | null) ?? undefined,
    toolCallId: r.tool_call_id ?? undefined,
    tokens: r.tokens ?? undefined,
  }));
  return { history, summary: row.summary ?? undefined, unsummarizedTokensAtMost: row.at_most === null ? undefined : Number(row.at_most), lastSeq: Number(row.last_seq), readAtMs: Date.now() };
}

/**
 * Memory for the turn runner on top of {@link MemoryService}. With a `cache`, a session's next turn
 * on this worker starts from what its last one read and wrote (see {@link HistoryCache}).
 */
export function createTurnMemory(
  db: Db,
  memory: MemoryService,
  agent: string,
  opts: { cache?: HistoryCache; cacheLookups?: Counter<'result'> } = {},
): TurnMemory {
  const cache = opts.cache;
  return {
    async prepare(ctx, historyLimit) {
      const cached = cache?.take(ctx.sessionKey, ctx.fence, historyLimit);
      if (cache) opts.cacheLookups?.inc({ result: cached ? 'hit' : 'miss' });
      const [read, found] = await Promise.all([
        cached ?? readHistory(db, ctx.sessionKey, historyLimit),
        memory.recall(turnIdentity(ctx, agent), answeredMessages(ctx.messages).map((m) => m.text).join('\n')),
      ]);
      return { history: read.history, summary: read.summary, unsummarizedTokensAtMost: read.unsummarizedTokensAtMost, lastSeq: read.lastSeq, readAtMs: read.readAtMs, memories: found.map((m) => m.content) };
    },
    committed(ctx, prepared, historyLimit, { added, baseSeq, unsummarizedTokensAtMost: tokensAtMost }) {
      // A commit that did not land right after what was read (a fenced-off worker committed in
      // between): the next turn reads the database.
      if (!cache || baseSeq !== prepared.lastSeq) return;
      const all = [...prepared.history, ...added.map((e) => ({ role: e.role, content: e.content, toolCalls: e.toolCalls, toolCallId: e.toolCallId, tokens: e.tokens }))];
      const history = all.length > historyLimit ? all.slice(-historyLimit) : all;
      cache.set(ctx.sessionKey, {
        fence: ctx.fence,
        limit: historyLimit,
        lastSeq: baseSeq + added.length,
        summary: prepared.summary,
        history,
        // As the database would answer: a bound only when the history may not hold everything.
        unsummarizedTokensAtMost: history.length < historyLimit ? undefined : tokensAtMost,
        readAtMs: prepared.readAtMs,
      });
    },
    async afterTurn(ctx, budgetTokens, known) {
      if (isHeartbeat(ctx)) return;
      const compacted = await memory.afterTurn(turnIdentity(ctx, agent), ctx.turnId, budgetTokens, known);
      // A new summary changes what the next turn's context starts from.
      if (compacted) cache?.delete(ctx.sessionKey);
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
  /** Scope marks shared with the other processes that write memories (see `ScopeMarks`). */
  marks?: ScopeMarks;
}): TurnMemory {
  const { config, llm } = deps;
  const store = memoryFromConfig(deps.db, config, { logger: deps.logger, registry: deps.registry, marks: deps.marks });
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
  const cache = config.HISTORY_CACHE_MB > 0 ? new HistoryCache({ maxBytes: config.HISTORY_CACHE_MB * 1024 * 1024 }) : undefined;
  if (!cache) return createTurnMemory(deps.db, service, config.AGENT_NAME);
  const cacheLookups = counter(deps.registry, {
    name: 'switchboard_history_cache_lookups_total',
    help: 'Turns that found their session history in the worker\'s history cache (hit) or read it from the database (miss)',
    labelNames: ['result'] as const,
  });
  return createTurnMemory(deps.db, service, config.AGENT_NAME, { cache, cacheLookups });
}
