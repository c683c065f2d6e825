import type { Db } from '@switchboard/store';
import type { InboundMessage } from '@switchboard/contracts';
import type { ChatMessage, ChatToolCall } from '@switchboard/llm';

/** A transcript row as the context builder needs it. */
export interface TranscriptEntry {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCalls?: ChatToolCall[] | undefined;
  toolCallId?: string | undefined;
  /** Content tokens as counted when the row was written, so history is not re-tokenized every turn. */
  tokens?: number | undefined;
}

export interface NewRow extends TranscriptEntry {
  sourceId?: string | undefined;
  userId?: string | undefined;
}

export interface CommitInput {
  sessionKey: string;
  fence: number;
  turnId: string;
  inboundIds: string[];
  replyText: string;
  model: string | undefined;
  promptTokens: number;
  completionTokens: number;
  rows: NewRow[];
}

export type CommitOutcome = 'committed' | 'already_committed' | 'fenced';

/**
 * Transcripts in Postgres: the source of truth for short-term context. A turn first claims the
 * session's fencing token; its commit is one statement that writes the turn and its messages only
 * if the token is still current and the turn is not already written.
 */
export class TranscriptStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /**
   * Bumps the session's fencing token (creating the session) and says whether this turn was
   * already committed (a crash after commit, before acknowledgement).
   */
  async claim(first: InboundMessage, turnId: string): Promise<{ fence: number; committedReply: string | undefined }> {
    const { rows } = await this.db.query<{ fence: string | number; reply_text: string | null }>(
      `WITH up AS (
         INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id, fence)
         VALUES ($1, $2, $3, $4, $5, $6, 1)
         ON CONFLICT (id) DO UPDATE SET fence = sessions.fence + 1, updated_at = now()
         RETURNING fence
       )
       SELECT (SELECT fence FROM up) AS fence, (SELECT reply_text FROM turns WHERE id = $7) AS reply_text`,
      [first.sessionKey, first.platform, first.account, first.chatId, first.threadId ?? null, first.userId, turnId],
    );
    const row = rows[0]!;
    return { fence: Number(row.fence), committedReply: row.reply_text ?? undefined };
  }

  /** The newest `limit` messages of a session, oldest first. */
  async recent(sessionKey: string, limit: number): Promise<TranscriptEntry[]> {
    type Row = { role: TranscriptEntry['role']; content: string; tool_calls: ChatToolCall[] | null; tool_call_id: string | null; tokens: number | null };
    const { rows } = await this.db.query<Row>(
      `SELECT role, content, tool_calls, tool_call_id, tokens FROM messages WHERE session_id = $1 ORDER BY seq DESC LIMIT $2`,
      [sessionKey, limit],
    );
    return rows.reverse().map((r: Row) => ({
      role: r.role,
      content: r.content,
      toolCalls: r.tool_calls ?? undefined,
      toolCallId: r.tool_call_id ?? undefined,
      tokens: r.tokens ?? undefined,
    }));
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    const rows = input.rows.map((r, i) => ({
      ord: i + 1,
      role: r.role,
      content: r.content,
      tool_calls: r.toolCalls ?? null,
      tool_call_id: r.toolCallId ?? null,
      source_id: r.sourceId ?? null,
      user_id: r.userId ?? null,
      tokens: r.tokens ?? null,
    }));
    const { rows: result } = await this.db.query<{ fenced_ok: string | number; inserted: string | number }>(
      `WITH s AS (
         SELECT id FROM sessions WHERE id = $1 AND fence = $2 FOR UPDATE
       ), t AS (
         INSERT INTO turns (id, session_id, fence, inbound_ids, reply_text, model, prompt_tokens, completion_tokens)
         SELECT $3, s.id, $2, $4::text[], $5, $6, $7, $8 FROM s
         ON CONFLICT (id) DO NOTHING
         RETURNING id
       ), base AS (
         SELECT coalesce(max(seq), 0) AS seq FROM messages WHERE session_id = $1
       ), m AS (
         INSERT INTO messages (session_id, seq, turn_id, role, content, tool_calls, tool_call_id, source_id, user_id, tokens)
         SELECT $1, base.seq + r.ord, $3, r.role, r.content, r.tool_calls, r.tool_call_id, r.source_id, r.user_id, r.tokens
         FROM t, base, jsonb_to_recordset($9::jsonb)
           AS r(ord int, role text, content text, tool_calls jsonb, tool_call_id text, source_id text, user_id text, tokens int)
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM s) AS fenced_ok, (SELECT count(*) FROM t) AS inserted, (SELECT count(*) FROM m) AS written`,
      [
        input.sessionKey,
        input.fence,
        input.turnId,
        input.inboundIds,
        input.replyText,
        input.model ?? null,
        input.promptTokens,
        input.completionTokens,
        JSON.stringify(rows),
      ],
    );
    const r = result[0]!;
    // A stale token means another worker owns the session now, whether or not it has committed
    // this turn yet: the owner delivers and acknowledges; the stale worker must do nothing.
    if (Number(r.fenced_ok) === 0) return 'fenced';
    return Number(r.inserted) === 0 ? 'already_committed' : 'committed';
  }
}

/** Converts transcript entries to chat messages for the model. */
export function toChatMessages(entries: TranscriptEntry[]): ChatMessage[] {
  return entries.map((e): ChatMessage => {
    switch (e.role) {
      case 'assistant':
        return e.toolCalls && e.toolCalls.length > 0
          ? { role: 'assistant', content: e.content || null, tool_calls: e.toolCalls }
          : { role: 'assistant', content: e.content };
      case 'tool':
        return { role: 'tool', content: e.content, tool_call_id: e.toolCallId ?? '' };
      case 'system':
        return { role: 'system', content: e.content };
      default:
        return { role: 'user', content: e.content };
    }
  });
}
