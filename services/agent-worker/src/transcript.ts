import { TRANSCRIPT_COMMIT_BATCH_SQL, TRANSCRIPT_COMMIT_SQL, type Db } from '@switchboard/store';
import { storableJson, storableText, type InboundMessage } from '@switchboard/contracts';
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
  /**
   * Messages written: fewer than the turn's rows when an inbound message was in the transcript
   * already (interrupt mode: a stalled run of the batch's earlier claim wrote it first).
   */
  written: number;
}

/** Most turns one batched commit carries. */
export const MAX_COMMIT_BATCH = 64;

interface PendingCommit {
  input: CommitInput;
  resolve(result: CommitResult): void;
  reject(err: unknown): void;
}

type CommitRow = { fenced_ok: string | number; inserted: string | number; base_seq: string | number; written: string | number };

/**
 * Transcripts in Postgres: the source of truth for short-term context. A turn's commit is one
 * statement that writes the session row, the turn and its messages only if the claim's fencing
 * token (from Redis, bumped by every claim) is at least the last committed one and the turn is not
 * already written.
 *
 * Commits are grouped: at most `maxInFlight` commit statements run at once (one on PGlite, which
 * runs one statement at a time anyway), and the commits that arrive meanwhile go together in the
 * next, one statement for up to {@link MAX_COMMIT_BATCH} turns of different sessions. A commit that
 * finds nothing running goes at once, alone, so a lone turn waits no longer than before. When a
 * batch fails, each of its turns is committed alone, so one bad turn fails only itself.
 */
export class TranscriptStore {
  private readonly db: Db;
  private readonly maxInFlight: number;
  private queue: PendingCommit[] = [];
  private inFlight = 0;

  constructor(db: Db, opts: { maxInFlight?: number } = {}) {
    this.db = db;
    this.maxInFlight = opts.maxInFlight ?? (db.kind === 'pglite' ? 1 : 4);
  }

  /** The reply of a turn that was already committed (a crash after commit, before acknowledgement). */
  async committedReply(turnId: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ reply_text: string }>(`SELECT reply_text FROM turns WHERE id = $1`, [turnId]);
    return rows[0]?.reply_text;
  }

  /**
   * Makes commits of the session with a token below `fence` fail as fenced from now on, before
   * this claim has committed anything. Interrupt mode needs it: a batch given back and claimed
   * again gets a new turn id, so a stalled run of the old turn could otherwise still commit the
   * same messages under its old id, and the new turn's commit would then fail on them.
   */
  async raiseFence(sessionKey: string, fence: number, session: CommitInput['session']): Promise<void> {
    await this.db.query(
      `INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id, fence) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET fence = greatest(sessions.fence, EXCLUDED.fence)`,
      [sessionKey, session.platform, session.account, session.chatId, session.threadId ?? null, session.userId, fence],
    );
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

  commit(input: CommitInput): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.takeBatch();
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** The oldest waiting commits, at most one per session; the rest keep their place in the queue. */
  private takeBatch(): PendingCommit[] {
    if (this.queue.length === 1) return this.queue.splice(0, 1);
    const sessions = new Set<string>();
    const batch: PendingCommit[] = [];
    const rest: PendingCommit[] = [];
    for (const pending of this.queue) {
      if (batch.length < MAX_COMMIT_BATCH && !sessions.has(pending.input.sessionKey)) {
        sessions.add(pending.input.sessionKey);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async run(batch: PendingCommit[]): Promise<void> {
    if (batch.length > 1) {
      let results: CommitResult[] | undefined;
      try {
        results = await this.commitBatch(batch.map((p) => p.input));
      } catch {
        // Nothing of the batch was written (one statement): each turn goes alone, as it would have
        // without the batch, and only a turn that fails alone gets the error.
      }
      if (results) {
        batch.forEach((p, i) => p.resolve(results[i]!));
        return;
      }
    }
    await Promise.all(batch.map((p) => this.commitOne(p.input).then(p.resolve, p.reject)));
  }

  private async commitOne(input: CommitInput): Promise<CommitResult> {
    const { rows: result } = await this.db.query<CommitRow>(TRANSCRIPT_COMMIT_SQL, [
      input.sessionKey,
      input.fence,
      input.turnId,
      input.inboundIds,
      storableText(input.replyText),
      input.model ?? null,
      input.promptTokens,
      input.completionTokens,
      JSON.stringify(messageRows(input)),
      input.session.platform,
      input.session.account,
      input.session.chatId,
      input.session.threadId ?? null,
      input.session.userId,
    ]);
    return commitResult(result[0]!);
  }

  private async commitBatch(inputs: CommitInput[]): Promise<CommitResult[]> {
    const turns = inputs.map((input, k) => ({
      k,
      sid: input.sessionKey,
      fence: input.fence,
      tid: input.turnId,
      inbound: input.inboundIds,
      reply: storableText(input.replyText),
      model: input.model ?? null,
      pt: input.promptTokens,
      ct: input.completionTokens,
      msgs: messageRows(input),
      platform: input.session.platform,
      account: input.session.account,
      chat: input.session.chatId,
      thread: input.session.threadId ?? null,
      uid: input.session.userId,
    }));
    // In session order, so that concurrent batches (of other workers, on Postgres) lock the
    // session rows in one order; `k` maps the answers back.
    turns.sort((a, b) => (a.sid < b.sid ? -1 : 1));
    const { rows } = await this.db.query<CommitRow & { k: number }>(TRANSCRIPT_COMMIT_BATCH_SQL, [JSON.stringify(turns)]);
    const results: CommitResult[] = [];
    for (const row of rows) results[Number(row.k)] = commitResult(row);
    if (rows.length !== inputs.length) throw new Error(`a batched commit answered ${rows.length} rows for ${inputs.length} turns`);
    return results;
  }
}

/** The turn's rows as the commit writes them: text Postgres can store (see storableText). */
function messageRows(input: CommitInput) {
  return input.rows.map((r, i) => ({
    ord: i + 1,
    role: r.role,
    content: storableText(r.content),
    tool_calls: r.toolCalls ? storableJson(r.toolCalls) : null,
    tool_call_id: r.toolCallId === undefined ? null : storableText(r.toolCallId),
    source_id: r.sourceId ?? null,
    user_id: r.userId ?? null,
    tokens: r.tokens ?? null,
  }));
}

function commitResult(r: CommitRow): CommitResult {
  // An older token than the last commit's means a newer claim owns the session: the stale
  // worker must do nothing (the owner delivers and acknowledges).
  const outcome = Number(r.fenced_ok) === 0 ? 'fenced' : Number(r.inserted) === 0 ? 'already_committed' : 'committed';
  return { outcome, baseSeq: Number(r.base_seq), written: Number(r.written) };
}

/** One transcript entry as the chat message the model is sent. */
export function toChatMessage(e: TranscriptEntry): ChatMessage {
  switch (e.role) {
    case 'assistant':
      return e.toolCalls && e.toolCalls.length > 0 ? { role: 'assistant', content: e.content || null, tool_calls: e.toolCalls } : { role: 'assistant', content: e.content };
    case 'tool':
      return { role: 'tool', content: e.content, tool_call_id: e.toolCallId ?? '' };
    case 'system':
      return { role: 'system', content: e.content };
    default:
      return { role: 'user', content: e.content };
  }
}
