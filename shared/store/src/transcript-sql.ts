/*
 * The statements of a turn on the transcript tables (migration 001): the history read before the
 * model call and the commit after it, alone or grouped with other turns' commits. The agent worker
 * runs them; `scripts/bench-query.ts` measures the history read and the lone commit. Kept here,
 * beside the schema, so both run the same text. All may keep a generic plan in PGlite
 * ({@link GENERIC_PLAN_MARK}): their plans do not depend on the values.
 */
import { GENERIC_PLAN_MARK } from './pglite-query.ts';

/**
 * Everything a turn reads in one round trip and one row: the newest summary (`summary`, null
 * without one), the newest `$2` messages after it as one JSON text (`history`, oldest first),
 * which PGlite returns far faster than a row per message, and, only when `history` may not hold
 * them all (it has `$2` messages), a bound of the prompt tokens of all messages after the summary
 * (`at_most`: each message's stored count, or its size in bytes where it has none, plus its tool
 * calls' JSON in bytes and 4 per message; no tokenizer exceeds a byte per token; else null).
 * `last_seq` is the session's newest message's seq (0 without messages): a commit whose `base_seq`
 * equals it wrote right after what this read saw.
 * Parameters: $1 session id, $2 most messages.
 */
export const TRANSCRIPT_HISTORY_SQL = `${GENERIC_PLAN_MARK} WITH s AS (SELECT content, to_seq FROM summaries WHERE session_id = $1 ORDER BY to_seq DESC LIMIT 1),
  m AS (SELECT seq, role, content, tool_calls, tool_call_id, tokens FROM messages
        WHERE session_id = $1 AND seq > coalesce((SELECT to_seq FROM s), 0) ORDER BY seq DESC LIMIT $2)
  SELECT (SELECT content FROM s) AS summary,
    CASE WHEN (SELECT count(*) FROM m) < $2 THEN NULL ELSE
      (SELECT coalesce(sum(coalesce(tokens, octet_length(content)) + coalesce(octet_length(tool_calls::text), 0) + 4), 0)
       FROM messages WHERE session_id = $1 AND seq > coalesce((SELECT to_seq FROM s), 0)) END AS at_most,
    (SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = $1) AS last_seq,
    (SELECT coalesce(json_agg(json_build_object('role', role, 'content', content, 'tool_calls', tool_calls, 'tool_call_id', tool_call_id, 'tokens', tokens) ORDER BY seq), '[]')::text FROM m) AS history`;

/** One message of {@link TRANSCRIPT_HISTORY_SQL}'s `history`. */
export interface TranscriptHistoryRow {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls: unknown[] | null;
  tool_call_id: string | null;
  tokens: number | null;
}

/**
 * A turn's commit, one statement: writes the session row, the turn and its messages only if the
 * claim's fencing token is at least the last committed one and the turn is not written yet.
 * Parameters: $1 session id, $2 fence, $3 turn id, $4 inbound ids (text[]), $5 reply text, $6 model,
 * $7 prompt tokens, $8 completion tokens, $9 the messages as a JSON array of
 * `{ord, role, content, tool_calls, tool_call_id, source_id, user_id, tokens}`, $10–$14 the
 * session's platform, account, chat id, thread id and user id (for its first commit).
 * Returns one row: `fenced_ok` (0 when a newer claim committed), `inserted` (0 when the turn was
 * already written), `written` (messages) and `base_seq` (the session's newest seq before them).
 * An inbound message another turn already wrote (interrupt mode: a stalled run of the batch's
 * earlier claim committed it just before this claim raised the fence) is not written again; the
 * rest of the turn is (a gap in `seq` is left where it would have gone).
 */
export const TRANSCRIPT_COMMIT_SQL = `${GENERIC_PLAN_MARK} WITH s AS (
   INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id, fence)
   VALUES ($1, $10, $11, $12, $13, $14, $2)
   ON CONFLICT (id) DO UPDATE SET fence = EXCLUDED.fence, updated_at = now()
   WHERE sessions.fence <= EXCLUDED.fence
   RETURNING id
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
   ON CONFLICT (session_id, source_id) WHERE source_id IS NOT NULL DO NOTHING
   RETURNING 1
 )
 SELECT (SELECT count(*) FROM s) AS fenced_ok, (SELECT count(*) FROM t) AS inserted, (SELECT count(*) FROM m) AS written, (SELECT seq FROM base) AS base_seq`;

/**
 * The commit of several turns, of different sessions, in one statement (so one transaction): for
 * each turn exactly what {@link TRANSCRIPT_COMMIT_SQL} does for one. The agent worker sends the
 * turns whose commits wait while another commit runs together: PGlite spends about half the CPU per
 * turn from five turns on (measured in process: ~0.75 ms alone, ~0.35-0.4 ms in a batch).
 * Two turns of one session must not share a batch (the session row's upsert would affect the same
 * row twice, which Postgres refuses).
 * Parameter: $1 a JSON array of `{k, sid, fence, tid, inbound, reply, model, pt, ct, msgs,
 * platform, account, chat, thread, uid}`, one per turn: `k` its key in the answer, then $1-$14 of
 * {@link TRANSCRIPT_COMMIT_SQL} in that order, `msgs` the messages' array itself (not its text).
 * Returns one row per turn, ordered by `k`, with that statement's `fenced_ok`, `inserted`,
 * `base_seq` and `written`.
 */
export const TRANSCRIPT_COMMIT_BATCH_SQL = `${GENERIC_PLAN_MARK} WITH i AS (
   SELECT * FROM jsonb_to_recordset($1::jsonb)
     AS i(k int, sid text, fence bigint, tid text, inbound text[], reply text, model text, pt int, ct int, msgs jsonb,
          platform text, account text, chat text, thread text, uid text)
 ), s AS (
   INSERT INTO sessions (id, platform, account, chat_id, thread_id, user_id, fence)
   SELECT sid, platform, account, chat, thread, uid, fence FROM i
   ON CONFLICT (id) DO UPDATE SET fence = EXCLUDED.fence, updated_at = now()
   WHERE sessions.fence <= EXCLUDED.fence
   RETURNING id
 ), t AS (
   INSERT INTO turns (id, session_id, fence, inbound_ids, reply_text, model, prompt_tokens, completion_tokens)
   SELECT i.tid, i.sid, i.fence, i.inbound, i.reply, i.model, i.pt, i.ct FROM i JOIN s ON s.id = i.sid
   ON CONFLICT (id) DO NOTHING
   RETURNING id
 ), base AS (
   SELECT i.k, (SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = i.sid) AS seq FROM i
 ), m AS (
   INSERT INTO messages (session_id, seq, turn_id, role, content, tool_calls, tool_call_id, source_id, user_id, tokens)
   SELECT i.sid, base.seq + r.ord, i.tid, r.role, r.content, r.tool_calls, r.tool_call_id, r.source_id, r.user_id, r.tokens
   FROM i JOIN t ON t.id = i.tid JOIN base ON base.k = i.k, jsonb_to_recordset(i.msgs)
     AS r(ord int, role text, content text, tool_calls jsonb, tool_call_id text, source_id text, user_id text, tokens int)
   ON CONFLICT (session_id, source_id) WHERE source_id IS NOT NULL DO NOTHING
   RETURNING turn_id
 )
 SELECT i.k, (s.id IS NOT NULL)::int AS fenced_ok, (t.id IS NOT NULL)::int AS inserted, base.seq AS base_seq,
   (SELECT count(*) FROM m WHERE m.turn_id = i.tid)::int AS written
 FROM i JOIN base ON base.k = i.k LEFT JOIN s ON s.id = i.sid LEFT JOIN t ON t.id = i.tid ORDER BY i.k`;
