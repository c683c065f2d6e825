import type { Db } from '@switchboard/store';

/** Rows removed by {@link deleteUserData}, per table. */
export interface DeletedUserData {
  sessions: number;
  messages: number;
  turns: number;
  summaries: number;
  memories: number;
  embeddings: number;
  toolAudit: number;
}

/** What {@link deleteUserData} may do before its transaction commits. */
export interface DeleteUserDataOptions {
  /**
   * Called with the sessions whose transcripts the deletion changes, before it commits (and so
   * nothing is deleted when it throws): the web service bumps their fencing tokens there, so no
   * worker's history cache outlives the deletion.
   */
  beforeCommit?: (sessionIds: string[]) => Promise<void>;
}

/**
 * Deletes everything stored about one user (their raw platform user id), in one transaction:
 * their own sessions with everything in them (turns, messages, summaries, approvals, memory runs),
 * their messages in shared sessions and the turns only they spoke in (with those turns' approvals),
 * the summaries of shared sessions they spoke in (those are rebuilt from what remains), their memories in every scope,
 * the embeddings of their texts, and their tool audit entries. A session counts as their own only
 * when nobody else took part in it (the session row names whoever spoke first, in a group too).
 * Other users' data is untouched.
 * Idempotent: deleting again removes nothing more.
 */
export async function deleteUserData(db: Db, userId: string, opts: DeleteUserDataOptions = {}): Promise<DeletedUserData & { sessionIds: string[] }> {
  return db.transaction(async (tx) => {
    const count = async (sql: string, params: unknown[]) => (await tx.query(`WITH d AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM d`, params)).rows[0] as { n: number };
    // The session row names whoever sent its first message, in a group too: a session is the
    // user's own only if no other person has spoken, written memories or run tools in it (hooks
    // and heartbeats posting into it are no persons). One they opened that others took part in is
    // shared: only their part of it goes, and the row stops naming them.
    // (A hook's or heartbeat's turn audits its tool calls and stores its extracted facts under its
    // pseudo-sender: no person either.)
    const otherPerson = (table: string) =>
      `EXISTS (SELECT 1 FROM ${table} t WHERE t.session_id = s.id AND t.user_id <> $1 AND t.user_id NOT LIKE 'hook:%' AND t.user_id NOT LIKE 'heartbeat:%')`;
    const opened = (
      await tx.query<{ id: string; shared: boolean }>(
        `SELECT s.id, (${['messages', 'memories', 'tool_audit'].map(otherPerson).join(' OR ')}) AS shared FROM sessions s WHERE s.user_id = $1`,
        [userId],
      )
    ).rows;
    const own = opened.filter((r) => !r.shared).map((r) => r.id);
    const sharedOpened = opened.filter((r) => r.shared).map((r) => r.id);
    const spokeIn = (await tx.query<{ session_id: string }>(`SELECT DISTINCT session_id FROM messages WHERE user_id = $1`, [userId])).rows.map((r) => r.session_id);
    // Turns of shared sessions in which nobody else spoke: their replies answer only this user.
    const soleTurns = (
      await tx.query<{ turn_id: string }>(
        `SELECT turn_id FROM messages WHERE session_id = ANY($2::text[]) AND role = 'user' GROUP BY turn_id HAVING bool_and(user_id = $1)`,
        [userId, spokeIn],
      )
    ).rows.map((r) => r.turn_id);
    /** Every session whose transcript this changes: the user's own and the shared ones they spoke in. */
    const sessionIds = [...new Set([...own, ...sharedOpened, ...spokeIn])];
    const memories = await count(`DELETE FROM memories WHERE user_id = $1 OR session_id = ANY($2::text[])`, [userId, own]);
    const embeddings = await count(`DELETE FROM embedding_cache WHERE owner = $1`, [userId]);
    const summaries = await count(`DELETE FROM summaries WHERE session_id = ANY($1::text[])`, [sessionIds]);
    const toolAudit = await count(`DELETE FROM tool_audit WHERE user_id = $1 OR session_id = ANY($2::text[]) OR turn_id = ANY($3::text[])`, [userId, own, soleTurns]);
    const messages = await count(`DELETE FROM messages WHERE user_id = $1 OR session_id = ANY($2::text[]) OR turn_id = ANY($3::text[])`, [userId, own, soleTurns]);
    const turns = await count(`DELETE FROM turns WHERE session_id = ANY($1::text[]) OR id = ANY($2::text[])`, [own, soleTurns]);
    // Compaction and flush runs go with the summaries: kept, they would mark the rebuilt summaries'
    // first ranges as done, and those sessions would never be summarized again.
    await tx.query(
      `DELETE FROM memory_runs WHERE session_id = ANY($1::text[]) OR turn_id = ANY($2::text[]) OR (session_id = ANY($3::text[]) AND kind IN ('compact', 'flush'))`,
      [own, soleTurns, sessionIds],
    );
    // Approvals (their tool arguments) of the user's own sessions go with them (cascade); in shared sessions, those of their turns.
    await tx.query(`DELETE FROM approvals WHERE turn_id = ANY($1::text[])`, [soleTurns]);
    await tx.query(`UPDATE sessions SET user_id = NULL WHERE id = ANY($1::text[])`, [sharedOpened]);
    const sessions = await count(`DELETE FROM sessions WHERE id = ANY($1::text[])`, [own]);
    await opts.beforeCommit?.(sessionIds);
    return { sessionIds, sessions: sessions.n, messages: messages.n, turns: turns.n, summaries: summaries.n, memories: memories.n, embeddings: embeddings.n, toolAudit: toolAudit.n };
  });
}
