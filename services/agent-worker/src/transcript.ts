import { TRANSCRIPT_COMMIT_SQL, type Db } from '@switchboard/store';
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
  /** The claim's fencing token; the commit fails as fenced when a newer claim has committed. */
  fence: number;
  /** Where the session lives, for the session row the commit creates on first use. */
  session: Pick<InboundMessage, 'platform' | 'account' | 'chatId' | 'threadId' | 'userId'>;
  turnId: string;
  inboundIds: string[];
  replyText: string;
  model: string | undefined;
  promptTokens: number;
  completionTokens: number;
  rows: NewRow[];
}

export type CommitOutcome = 'committed' | 'already_committed' | 'fenced';

export interface CommitResult {
  outcome: CommitOutcome;
  /** The session's newest message seq before the commit's messages (they follow it in order). */
  baseSeq: number;
}

/**
 * Transcripts in Postgres: the source of truth for short-term context. A turn's commit is one
 * statement that writes the session row, the turn and its messages only if the claim's fencing
 * token (from Redis, bumped by every claim) is at least the last committed one and the turn is not
 * already written.
 */
export class TranscriptStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /** The reply of a turn that was already committed (a crash after commit, before acknowledgement). */
  async committedReply(turnId: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ reply_text: string }>(`SELECT reply_text FROM turns WHERE id = $1`, [turnId]);
    return rows[0]?.reply_text;
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

  async commit(input: CommitInput): Promise<CommitResult> {
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
    const { rows: result } = await this.db.query<{ fenced_ok: string | number; inserted: string | number; base_seq: string | number }>(
      TRANSCRIPT_COMMIT_SQL,
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
        input.session.platform,
        input.session.account,
        input.session.chatId,
        input.session.threadId ?? null,
        input.session.userId,
      ],
    );
    const r = result[0]!;
    // An older token than the last commit's means a newer claim owns the session: the stale
    // worker must do nothing (the owner delivers and acknowledges).
    const outcome = Number(r.fenced_ok) === 0 ? 'fenced' : Number(r.inserted) === 0 ? 'already_committed' : 'committed';
    return { outcome, baseSeq: Number(r.base_seq) };
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
