import type { LlmClient } from '@switchboard/llm';
import { countTokens } from '@switchboard/llm';
import type { Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { planCompaction, summarize, type CompactionRow } from './compaction.ts';
import { extractFacts, type ExcerptLine, type ExtractedFact } from './extraction.ts';
import type { MemoryStore } from './memory-store.ts';
import { userScope, type MemoryRecord, type NewMemory, type ScopeRef } from './types.ts';

/** What a turn already knows of its session's transcript, so the work after it can skip queries. */
export interface KnownTranscript {
  /**
   * At most this many prompt tokens (as `rowTokens` counts them) in the messages after the latest
   * summary, this turn's included; undefined when the turn does not know.
   */
  unsummarizedTokensAtMost?: number | undefined;
  /** At most this many messages after the latest summary, this turn's included; undefined when the turn does not know. */
  unsummarizedMessagesAtMost?: number | undefined;
  /** How many of the newest messages after the summary the context reads (see CompactionPolicy.maxRows). */
  historyWindow?: number | undefined;
}

/** Who a turn is for, as memory needs it. */
export interface TurnIdentity {
  sessionKey: string;
  platform: string;
  /** The speaking user (raw platform id). */
  userId: string;
  agent: string;
  /**
   * True when the turn is one user's own conversation (not a group, one speaker). Only then are
   * that user's memories read or written: in a group, everyone would see them.
   */
  personal: boolean;
}

/** `turn`: extract after every turn and flush before compaction; `compaction`: flush only; `off`: neither. */
export type ExtractionMode = 'turn' | 'compaction' | 'off';

export interface MemoryServiceOptions {
  db: Db;
  store: MemoryStore;
  /** Model for summaries and fact extraction (SUMMARIZER_MODEL, else the chat model). */
  summarizer: LlmClient | undefined;
  extraction: ExtractionMode;
  logger: Logger;
  /** Memories retrieved per turn before they are fitted into the budget. Default 8. */
  recallLimit?: number;
  /** Compaction thresholds as shares of the context budget. Defaults 0.6 / 0.3 / 0.5. */
  compactAtShare?: number;
  keepShare?: number;
  chunkShare?: number;
}

/** Most unsummarized rows loaded to plan a compaction. */
const MAX_ROWS = 2000;

/**
 * Memory around a turn: what to put in front of the model (relevant memories and the latest
 * summary) and what to do after the turn committed (extract facts, compact). The after-turn work
 * is keyed by turn and message range (`memory_runs`, `summaries` unique on the range), so a turn
 * that is retried or resumed never extracts or compacts twice.
 */
export class MemoryService {
  readonly store: MemoryStore;
  private readonly opts: MemoryServiceOptions;
  private readonly log: Logger;

  constructor(opts: MemoryServiceOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.log = opts.logger.child({ component: 'memory' });
    if (opts.store.mode === 'keyword') this.log.warn('no embeddings endpoint (EMBEDDING_MODEL): memory retrieval is keyword-only (full-text search, no vectors)');
    else this.log.info({ model: opts.store.embedder?.model }, 'memory retrieval is hybrid (vectors + full text)');
  }

  /** The scopes a turn may read: the session, the agent, and the user's own when the turn is personal. */
  scopesFor(turn: TurnIdentity): ScopeRef[] {
    const scopes: ScopeRef[] = [{ scope: 'session', scopeId: turn.sessionKey }, { scope: 'agent', scopeId: turn.agent }];
    if (turn.personal) scopes.unshift(userScope(turn.platform, turn.userId));
    return scopes;
  }

  /** Memories relevant to `query`, best first. Never throws: a failing search costs the turn its memories, not its answer. */
  async recall(turn: TurnIdentity, query: string): Promise<MemoryRecord[]> {
    try {
      return await this.store.search({ scopes: this.scopesFor(turn), query, limit: this.opts.recallLimit ?? 8 });
    } catch (err) {
      this.log.error({ err, sessionKey: turn.sessionKey }, 'memory search failed; the turn goes on without memories');
      return [];
    }
  }

  /** The newest summary of a session and the last message it covers. */
  async latestSummary(sessionKey: string): Promise<{ content: string; toSeq: number } | undefined> {
    const { rows } = await this.opts.db.query<{ content: string; to_seq: number }>(
      `SELECT content, to_seq FROM summaries WHERE session_id = $1 ORDER BY to_seq DESC LIMIT 1`,
      [sessionKey],
    );
    return rows[0] ? { content: rows[0].content, toSeq: Number(rows[0].to_seq) } : undefined;
  }

  /**
   * After a turn committed: extract its facts (mode `turn`), then compact the session if its
   * unsummarized transcript outgrew the budget. Idempotent per turn; never throws (logged and
   * counted instead; the next turn catches up on a compaction that failed). Resolves true when it
   * wrote a summary.
   */
  async afterTurn(turn: TurnIdentity, turnId: string, budgetTokens: number, known: KnownTranscript = {}): Promise<boolean> {
    if (this.opts.extraction === 'turn') {
      try {
        await this.extractTurn(turn, turnId);
      } catch (err) {
        this.store.metrics.extractions.inc({ kind: 'extract', outcome: 'error' });
        this.log.error({ err, sessionKey: turn.sessionKey, turnId }, 'fact extraction failed');
      }
    }
    try {
      return await this.compact(turn, turnId, budgetTokens, known);
    } catch (err) {
      this.store.metrics.compactions.inc({ outcome: 'error' });
      this.log.error({ err, sessionKey: turn.sessionKey, turnId }, 'compaction failed; the context builder keeps the newest turns meanwhile');
      return false;
    }
  }

  private async done(key: string): Promise<boolean> {
    const { rows } = await this.opts.db.query(`SELECT 1 FROM memory_runs WHERE key = $1`, [key]);
    return rows.length > 0;
  }

  /** Extracts the facts of one committed turn into memory, once per turn. */
  async extractTurn(turn: TurnIdentity, turnId: string): Promise<number> {
    const key = `extract:${turnId}`;
    if (!this.opts.summarizer || (await this.done(key))) {
      this.store.metrics.extractions.inc({ kind: 'extract', outcome: 'skipped' });
      return 0;
    }
    const { rows } = await this.opts.db.query<{ id: number; role: 'user' | 'assistant'; content: string; user_id: string | null }>(
      `SELECT id, role, content, user_id FROM messages WHERE session_id = $1 AND turn_id = $2 AND role IN ('user', 'assistant') ORDER BY seq`,
      [turn.sessionKey, turnId],
    );
    const lines = rows.filter((r) => r.role === 'assistant' || r.user_id === turn.userId);
    const lastUser = [...lines].reverse().find((r) => r.role === 'user');
    return this.storeFacts(turn, { key, kind: 'extract', turnId, sourceMessageId: lastUser?.id }, lines);
  }

  private async storeFacts(
    turn: TurnIdentity,
    run: { key: string; kind: 'extract' | 'flush'; turnId: string; sourceMessageId?: number | undefined; coversTurnIds?: readonly string[] },
    lines: readonly ExcerptLine[],
  ): Promise<number> {
    const facts: ExtractedFact[] = lines.some((l) => l.role === 'user') ? await extractFacts(this.opts.summarizer!, lines) : [];
    const scope: ScopeRef = turn.personal ? userScope(turn.platform, turn.userId) : { scope: 'session', scopeId: turn.sessionKey };
    const memories: NewMemory[] = facts.map((f) => ({
      ...scope,
      content: f.content,
      kind: f.kind,
      importance: f.importance,
      userId: turn.userId,
      platform: turn.platform,
      sessionId: turn.sessionKey,
      sourceMessageId: run.sourceMessageId,
      sourceTurnId: run.turnId,
      source: run.kind,
    }));
    const vectors = await this.store.embedFor(memories);
    const stored = await this.opts.db.transaction(async (tx) => {
      const claimed = await tx.query(
        `INSERT INTO memory_runs (key, kind, session_id, turn_id, stored) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING RETURNING key`,
        [run.key, run.kind, turn.sessionKey, run.turnId, memories.length],
      );
      if (claimed.rows.length === 0) return -1; // a concurrent retry of the same turn got there first
      if (run.coversTurnIds?.length) {
        // A flush marks each turn it read as covered, as a per-turn extraction does: a later flush
        // over another range end (the summary after this flush failed, and more turns came) does
        // not extract their facts again.
        await tx.query(
          `INSERT INTO memory_runs (key, kind, session_id, turn_id) SELECT 'flush:' || $1 || ':turn:' || t, 'flush', $1, t FROM unnest($2::text[]) AS t ON CONFLICT (key) DO NOTHING`,
          [turn.sessionKey, run.coversTurnIds],
        );
      }
      for (let i = 0; i < memories.length; i++) await this.store.insert(tx, memories[i]!, vectors[i]);
      return memories.length;
    });
    if (stored > 0) await this.store.committed(memories);
    this.store.metrics.extractions.inc({ kind: run.kind, outcome: stored < 0 ? 'skipped' : 'done' });
    return Math.max(0, stored);
  }

  /** Compacts the session if it outgrew its budget: flush facts from the range, then summarize it. */
  async compact(turn: TurnIdentity, turnId: string, budgetTokens: number, known: KnownTranscript = {}): Promise<boolean> {
    const db = this.opts.db;
    const triggerTokens = Math.floor(budgetTokens * (this.opts.compactAtShare ?? 0.6));
    // The turn already knows everything since the latest summary fits: no need to load it to see that.
    const withinWindow = known.historyWindow === undefined || (known.unsummarizedMessagesAtMost !== undefined && known.unsummarizedMessagesAtMost <= known.historyWindow);
    if (known.unsummarizedTokensAtMost !== undefined && known.unsummarizedTokensAtMost <= triggerTokens && withinWindow) return false;
    const previous = await this.latestSummary(turn.sessionKey);
    // One JSON text instead of a row per message: PGlite returns hundreds of rows several times slower.
    const { rows: [loaded] } = await db.query<{ messages: string }>(
      `SELECT coalesce(json_agg(json_build_object('seq', seq, 'role', role, 'content', content, 'toolCalls', tool_calls, 'tokens', tokens,
         'turn_id', turn_id, 'user_id', user_id) ORDER BY seq), '[]')::text AS messages
       FROM (SELECT seq, role, content, tool_calls, tokens, turn_id, user_id FROM messages WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT ${MAX_ROWS}) m`,
      [turn.sessionKey, previous?.toSeq ?? 0],
    );
    const all = JSON.parse(loaded!.messages) as Array<CompactionRow & { turn_id: string; user_id: string | null }>;
    const plan = planCompaction(all, {
      triggerTokens,
      keepTokens: Math.floor(budgetTokens * (this.opts.keepShare ?? 0.3)),
      // The summarizer's own prompt (instructions, previous summary, range) stays within the budget too.
      maxChunkTokens: Math.floor(budgetTokens * (this.opts.chunkShare ?? 0.5)),
      ...(known.historyWindow !== undefined ? { maxRows: known.historyWindow } : {}),
    });
    if (!plan || !this.opts.summarizer) return false;
    const key = `compact:${turn.sessionKey}:${plan.to}`;
    if (await this.done(key)) {
      this.store.metrics.compactions.inc({ outcome: 'skipped' });
      return false;
    }
    const range = all.filter((r) => r.seq >= plan.from && r.seq <= plan.to);
    if (this.opts.extraction !== 'off') {
      // Memory flush: facts from turns in the range that no per-turn extraction or earlier flush
      // has covered yet (a range ends at a turn boundary, so each of its turns is read whole). A
      // flush's own run row names the turn that ran it, which it did not read: only the per-turn
      // marks (`flush:<session>:turn:<turn id>`) count.
      const { rows: covered } = await db.query<{ turn_id: string }>(
        `SELECT turn_id FROM memory_runs WHERE session_id = $1 AND turn_id = ANY($2::text[])
           AND (kind = 'extract' OR (kind = 'flush' AND key = 'flush:' || session_id || ':turn:' || turn_id))`,
        [turn.sessionKey, [...new Set(range.map((r) => r.turn_id))]],
      );
      const skip = new Set(covered.map((c) => c.turn_id));
      const unread = range.filter((r) => !skip.has(r.turn_id));
      const lines: ExcerptLine[] = unread
        .filter((r) => (r.role === 'user' && r.user_id === turn.userId) || (r.role === 'assistant' && r.content !== ''))
        .map((r) => ({ role: r.role as 'user' | 'assistant', content: r.content }));
      const flushKey = `flush:${turn.sessionKey}:${plan.to}`;
      if (lines.some((l) => l.role === 'user') && !(await this.done(flushKey))) {
        // Covered: the turns whose every message this flush read (in a group, not those with another member's words).
        const othersTurns = new Set(unread.filter((r) => r.role === 'user' && r.user_id !== turn.userId).map((r) => r.turn_id));
        const coversTurnIds = [...new Set(unread.map((r) => r.turn_id))].filter((id) => !othersTurns.has(id));
        await this.storeFacts(turn, { key: flushKey, kind: 'flush', turnId, coversTurnIds }, lines);
      }
    }
    const maxTokens = Math.max(200, Math.min(1000, Math.floor(budgetTokens * 0.15)));
    const content = await summarize(this.opts.summarizer, previous?.content, range, maxTokens);
    if (content === '') throw new Error('the summarizer answered with an empty summary');
    const written = await db.transaction(async (tx) => {
      const claimed = await tx.query(
        `INSERT INTO memory_runs (key, kind, session_id, turn_id) VALUES ($1, 'compact', $2, $3) ON CONFLICT (key) DO NOTHING RETURNING key`,
        [key, turn.sessionKey, turnId],
      );
      if (claimed.rows.length === 0) return false;
      const inserted = await tx.query(
        `INSERT INTO summaries (session_id, from_seq, to_seq, content, tokens, model, turn_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (session_id, to_seq) DO NOTHING RETURNING id`,
        [turn.sessionKey, plan.from, plan.to, content, countTokens(content), this.opts.summarizer!.model, turnId],
      );
      return inserted.rows.length > 0;
    });
    this.store.metrics.compactions.inc({ outcome: written ? 'compacted' : 'skipped' });
    if (written) this.log.info({ sessionKey: turn.sessionKey, fromSeq: plan.from, toSeq: plan.to, summarizedTokens: plan.tokens }, 'session compacted');
    return written;
  }
}
