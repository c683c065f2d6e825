import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { counter, type Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import type { ApprovalBoard } from '@switchboard/tools';
import { sendError } from '../http-errors.ts';
import { QueueInspector } from './admin-queues.ts';

export interface AdminRouterDeps {
  /** Transcripts, sessions and parked approvals; without it those endpoints answer 503. */
  db: Db | undefined;
  approvals: ApprovalBoard;
  queues: QueueInspector;
  logger: Logger;
  registry: Registry;
}

const Limit = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const SessionsQuery = z.object({ limit: Limit(100, 500) });
const TranscriptQuery = z.object({ limit: Limit(200, 1000) });
const FailedQuery = z.object({ limit: Limit(20, 100) });
const JobId = z.string().min(1).max(256);

interface SessionRow {
  id: string;
  platform: string;
  chat_id: string;
  thread_id: string | null;
  user_id: string | null;
  created_at: Date;
  last_activity_at: Date;
  message_count: string | number;
  pending_approvals: string | number;
}

interface MessageRow {
  seq: number;
  turn_id: string;
  role: string;
  content: string;
  tool_calls: unknown;
  tool_call_id: string | null;
  created_at: Date;
}

interface ApprovalRow {
  id: string;
  session_id: string;
  tool: string;
  arguments: unknown;
  reason: string;
  created_at: Date;
  expires_at: Date;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

/** The account an admin query is limited to; null (every account) for operators. */
const scope = (res: Response): string | null => (res.locals.caller.operator ? null : res.locals.caller.account);

/**
 * JSON endpoints of the operator console, under `/v1/admin` (so behind the API's bearer-key auth,
 * and scoped to the caller's account like every other API route; operators — SWITCHBOARD_ADMIN_KEYS,
 * or the loopback user when no keys are set — see every account, platform sessions included):
 *
 * - `GET /v1/admin/sessions?limit=` → `{ sessions }`, newest activity first
 * - `GET /v1/admin/sessions/{sessionKey}/transcript?limit=` → `{ session, messages, approvals }`
 * - `GET /v1/admin/approvals` → `{ approvals }` still waiting for a human
 * - `GET /v1/admin/queues` → `{ queues: [{ name, counts }] }`
 * - `GET /v1/admin/queues/{name}/failed?limit=` → `{ jobs }` (no payloads)
 * - `POST /v1/admin/queues/{name}/jobs/{jobId}/retry` → `{ id, queue, status: "waiting" }`
 *
 * The queues are every account's at once (a failed job's reason may name another account's chat),
 * so their routes answer operators only: 403 for an ordinary key.
 *
 * Approvals are answered with `POST /v1/approvals/{id}`, the same route chat clients use, so a
 * parked turn resumes the same way whoever answers.
 */
export function adminRouter(deps: AdminRouterDeps): Router {
  const router = Router();
  const actions = counter(deps.registry, {
    name: 'switchboard_admin_actions_total',
    help: 'Operator console actions by kind and outcome',
    labelNames: ['action', 'outcome'] as const,
  });
  const log = deps.logger.child({ component: 'admin' });

  router.use('/v1/admin', (_req: Request, res: Response, next: NextFunction) => {
    // Transcripts are private: never cached by a browser or a proxy.
    res.set('cache-control', 'no-store');
    next();
  });

  const needDb = (res: Response): Db | undefined => {
    if (!deps.db) sendError(res, 503, 'no_database', 'the web service has no database (set DATABASE_URL) so sessions and approvals cannot be listed');
    return deps.db;
  };

  router.get('/v1/admin/sessions', async (req: Request, res: Response) => {
    const q = SessionsQuery.safeParse(req.query);
    if (!q.success) return sendError(res, 400, 'bad_request', 'limit must be an integer from 1 to 500');
    const db = needDb(res);
    if (!db) return;
    const { rows } = await db.query<SessionRow>(
      // The newest sessions first by their row's updated_at (every committed turn bumps it), so
      // only `limit` sessions are looked into, each through the (session_id, seq) index.
      `WITH recent AS (
         SELECT id, platform, chat_id, thread_id, user_id, created_at, updated_at FROM sessions
          WHERE ($1::text IS NULL OR account = $1) ORDER BY updated_at DESC, id LIMIT $2
       )
       SELECT s.id, s.platform, s.chat_id, s.thread_id, s.user_id, s.created_at,
              greatest(s.updated_at, coalesce(m.last_at, s.updated_at), coalesce(a.last_at, s.updated_at)) AS last_activity_at,
              coalesce(c.n, 0) AS message_count, coalesce(a.pending, 0) AS pending_approvals
         FROM recent s
         LEFT JOIN LATERAL (SELECT count(*) AS n FROM messages WHERE session_id = s.id) c ON true
         LEFT JOIN LATERAL (SELECT created_at AS last_at FROM messages WHERE session_id = s.id ORDER BY seq DESC LIMIT 1) m ON true
         LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE status = 'pending' AND expires_at > now()) AS pending, max(created_at) AS last_at
                              FROM approvals WHERE session_id = s.id) a ON true
        ORDER BY last_activity_at DESC, s.id`,
      [scope(res), q.data.limit],
    );
    res.json({
      sessions: rows.map((r) => ({
        id: r.id,
        platform: r.platform,
        chatId: r.chat_id,
        threadId: r.thread_id ?? undefined,
        userId: r.user_id ?? undefined,
        createdAt: iso(r.created_at),
        lastActivityAt: iso(r.last_activity_at),
        messageCount: Number(r.message_count),
        pendingApprovals: Number(r.pending_approvals),
      })),
    });
  });

  router.get('/v1/admin/sessions/:sessionKey/transcript', async (req: Request, res: Response) => {
    const q = TranscriptQuery.safeParse(req.query);
    if (!q.success) return sendError(res, 400, 'bad_request', 'limit must be an integer from 1 to 1000');
    const key = String(req.params.sessionKey);
    if (key.length > 512) return sendError(res, 404, 'not_found', 'no such session');
    const db = needDb(res);
    if (!db) return;
    const account = scope(res);
    const session = await db.query<{ id: string; platform: string; chat_id: string; created_at: Date; updated_at: Date }>(
      `SELECT id, platform, chat_id, created_at, updated_at FROM sessions WHERE id = $1 AND ($2::text IS NULL OR account = $2)`,
      [key, account],
    );
    const s = session.rows[0];
    // Another account's session answers exactly like a missing one.
    if (!s) return sendError(res, 404, 'not_found', 'no such session');
    const [messages, approvals] = await Promise.all([
      db.query<MessageRow>(
        `SELECT seq, turn_id, role, content, tool_calls, tool_call_id, created_at
           FROM (SELECT * FROM messages WHERE session_id = $1 ORDER BY seq DESC LIMIT $2) newest ORDER BY seq`,
        [key, q.data.limit],
      ),
      pendingApprovals(db, deps.approvals, account, key),
    ]);
    res.json({
      session: { id: s.id, platform: s.platform, chatId: s.chat_id, createdAt: iso(s.created_at), updatedAt: iso(s.updated_at) },
      messages: messages.rows.map((m) => ({
        seq: m.seq,
        turnId: m.turn_id,
        role: m.role,
        content: m.content,
        toolCalls: m.tool_calls ?? undefined,
        toolCallId: m.tool_call_id ?? undefined,
        createdAt: iso(m.created_at),
      })),
      approvals,
    });
  });

  router.get('/v1/admin/approvals', async (_req: Request, res: Response) => {
    const db = needDb(res);
    if (!db) return;
    res.json({ approvals: await pendingApprovals(db, deps.approvals, scope(res)) });
  });

  router.use('/v1/admin/queues', (_req: Request, res: Response, next: NextFunction) => {
    if (res.locals.caller.operator) return next();
    sendError(res, 403, 'forbidden', 'the queues hold every account’s jobs: only an operator key (SWITCHBOARD_ADMIN_KEYS) may see or retry them');
  });

  router.get('/v1/admin/queues', async (_req: Request, res: Response) => {
    res.json({ queues: await deps.queues.summaries() });
  });

  /** Resolves `:name` to a known queue, or answers 404 (unknown names never create Queue objects). */
  const knownQueue = async (req: Request, res: Response): Promise<string | undefined> => {
    const name = String(req.params.name);
    if (!QueueInspector.isQueueName(name) || !(await deps.queues.names()).includes(name)) {
      sendError(res, 404, 'not_found', 'no such queue');
      return undefined;
    }
    return name;
  };

  router.get('/v1/admin/queues/:name/failed', async (req: Request, res: Response) => {
    const q = FailedQuery.safeParse(req.query);
    if (!q.success) return sendError(res, 400, 'bad_request', 'limit must be an integer from 1 to 100');
    const name = await knownQueue(req, res);
    if (!name) return;
    res.json({ queue: name, jobs: await deps.queues.failed(name, q.data.limit) });
  });

  router.post('/v1/admin/queues/:name/jobs/:jobId/retry', async (req: Request, res: Response) => {
    const jobId = JobId.safeParse(req.params.jobId);
    if (!jobId.success) return sendError(res, 404, 'not_found', 'no such job');
    const name = await knownQueue(req, res);
    if (!name) return;
    const result = await deps.queues.retry(name, jobId.data);
    actions.inc({ action: 'retry_job', outcome: result.ok ? 'ok' : result.code });
    if (!result.ok) {
      const status = result.code === 'not_found' ? 404 : 409;
      return sendError(res, status, result.code === 'not_found' ? 'not_found' : 'conflict', result.message);
    }
    log.info({ queue: name, jobId: jobId.data, account: res.locals.caller.account }, 'failed job retried from the console');
    res.json({ id: jobId.data, queue: name, status: 'waiting' });
  });

  return router;
}

/**
 * Approvals of the account still waiting for a human: pending in Postgres, not expired, and not
 * already answered on the board (the row is settled only when the parked turn resumes).
 */
async function pendingApprovals(db: Db, board: ApprovalBoard, account: string | null, sessionKey?: string) {
  const { rows } = await db.query<ApprovalRow>(
    `SELECT a.id, a.session_id, a.tool, a.arguments, a.reason, a.created_at, a.expires_at
       FROM approvals a JOIN sessions s ON s.id = a.session_id
      WHERE a.status = 'pending' AND a.expires_at > now() AND ($1::text IS NULL OR s.account = $1) AND ($2::text IS NULL OR a.session_id = $2)
      ORDER BY a.created_at
      LIMIT 200`,
    [account, sessionKey ?? null],
  );
  const live = await Promise.all(rows.map((r) => board.get(r.id)));
  return rows
    .filter((_r, i) => (live[i]?.status ?? 'pending') === 'pending')
    .map((r) => ({
      id: r.id,
      sessionId: r.session_id,
      tool: r.tool,
      arguments: r.arguments,
      reason: r.reason,
      createdAt: iso(r.created_at),
      expiresAt: iso(r.expires_at),
    }));
}
