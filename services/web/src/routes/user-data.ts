import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { LaneStore } from '@switchboard/lanes';
import { deleteUserData } from '@switchboard/memory';
import type { Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { sendError } from '../http-errors.ts';

const UserId = z.string().min(1).max(512);

/**
 * `DELETE /v1/users/{userId}/data` → 200 `{ userId, deleted: { sessions, messages, turns,
 * summaries, memories, embeddings, toolAudit } }`: deletes everything stored about that user
 * (platform user id as in the transcript; web/API users are `<account>/<sessionId>`). Idempotent.
 * A caller with an API key may delete only users whose conversations are all in its own account
 * (403 otherwise); operators (SWITCHBOARD_ADMIN_KEYS, or the loopback user without keys) may delete any user.
 *
 * The touched sessions' fencing tokens are bumped before the deletion commits (if that fails,
 * nothing is deleted) and once more after it, so no agent worker starts a turn from transcript
 * history it cached before or during the deletion; their event streams (SSE replay) are dropped.
 * Idempotency keys (no content; kept 24 h) stay: a client reusing one in that time gets the first
 * message's answer, `duplicate: true`.
 */
export function userDataRouter(db: Db | undefined, lanes: Pick<LaneStore, 'bumpFences' | 'forgetEvents'>, logger: Logger): Router {
  const router = Router();
  router.delete('/v1/users/:userId/data', async (req: Request, res: Response) => {
    const parsed = UserId.safeParse(req.params.userId);
    if (!parsed.success) return sendError(res, 400, 'bad_request', 'userId must be 1 to 512 characters');
    if (!db) return sendError(res, 503, 'no_database', 'the web service has no database (set DATABASE_URL)');
    const userId = parsed.data;
    const account = res.locals.caller.account;
    if (!res.locals.caller.operator) {
      const { rows } = await db.query<{ account: string }>(
        `SELECT DISTINCT s.account FROM sessions s
         WHERE s.user_id = $1 OR s.id IN (SELECT session_id FROM messages WHERE user_id = $1)
            OR s.id IN (SELECT session_id FROM memories WHERE user_id = $1 AND session_id IS NOT NULL)`,
        [userId],
      );
      if (rows.some((r) => r.account !== account)) return sendError(res, 403, 'forbidden', 'this user has conversations outside your account');
    }
    const { sessionIds, ...deleted } = await deleteUserData(db, userId, { beforeCommit: (ids) => lanes.bumpFences(ids) });
    // A turn that read one of these transcripts while the deletion ran may have cached what it read.
    await lanes.bumpFences(sessionIds);
    // The sessions' event streams replay their text to SSE readers and the console: gone too.
    await lanes.forgetEvents(sessionIds);
    logger.info({ deleted, account }, 'deleted a user’s data');
    res.json({ userId, deleted });
  });
  return router;
}
