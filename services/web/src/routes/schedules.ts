import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { CreateScheduleInput, ScheduleInputError, ScheduleLimitError, type RunKind, type Scheduler } from '@switchboard/scheduler';
import { sendError } from '../http-errors.ts';
import { webInbound } from '../web-session.ts';
import { issueList } from '@switchboard/contracts';

const RUN_KINDS: readonly RunKind[] = ['schedule', 'heartbeat', 'hook'];

/** `?limit=` as a number from 1 to 500 (default 50), or undefined when it is not one. */
function limitOf(raw: unknown): number | undefined {
  if (raw === undefined) return 50;
  const n = typeof raw === 'string' && /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  return n >= 1 && n <= 500 ? n : undefined;
}

/**
 * `POST /v1/schedules` → 201 `{ id }` (409 `limit_reached` when the session or the account has as
 * many schedules as it may); `GET /v1/schedules` → `{ schedules }` (the caller's
 * account only); `DELETE /v1/schedules/{id}` → 204, or 404 when unknown or another account's.
 * Each run delivers `message` into the caller's web session `sessionId` (without one, a session
 * of the schedule's own) as a system event; `deliver` sends the answer to another channel and chat.
 * `GET /v1/schedules/{id}/runs` and `GET /v1/runs?kind=&source=&limit=` read the audit trail of
 * runs (schedules, heartbeats, hooks) of the caller's account, newest first.
 */
export function schedulesRouter(scheduler: Scheduler): Router {
  const router = Router();
  router.post('/v1/schedules', async (req: Request, res: Response) => {
    // Without a sessionId each schedule gets its own isolated session (returned, so it can be followed).
    const raw: unknown = req.body;
    const withSession = raw && typeof raw === 'object' && !Array.isArray(raw) && !('sessionId' in raw) ? { ...raw, sessionId: `sched-${randomBytes(6).toString('hex')}` } : raw;
    const body = CreateScheduleInput.safeParse(withSession);
    if (!body.success) return sendError(res, 400, 'bad_request', 'invalid schedule', issueList(body.error.issues));
    const account = res.locals.caller.account;
    const { text: _text, kind: _kind, receivedAtMs: _at, ...target } = webInbound(account, body.data.sessionId, body.data.message);
    try {
      const created = await scheduler.create(account, body.data, target);
      res.status(201).json({ id: created.id, sessionId: body.data.sessionId });
    } catch (err) {
      // Validated above; only an `at` that passed into the past in between lands here.
      if (err instanceof ScheduleInputError) return sendError(res, 400, 'bad_request', err.message, err.issues);
      if (err instanceof ScheduleLimitError) return sendError(res, 409, 'limit_reached', err.message);
      throw err;
    }
  });
  router.get('/v1/schedules', async (_req: Request, res: Response) => {
    res.json({ schedules: await scheduler.list(res.locals.caller.account) });
  });
  router.get('/v1/schedules/:id/runs', async (req: Request, res: Response) => {
    const account = res.locals.caller.account;
    const id = String(req.params.id);
    const limit = limitOf(req.query.limit);
    if (limit === undefined) return sendError(res, 400, 'bad_request', 'limit must be an integer from 1 to 500');
    const record = await scheduler.get(id);
    if (record && record.account !== account) return sendError(res, 404, 'not_found', 'no such schedule');
    // A one-shot that ran (or a deleted schedule) has no record any more, but its runs are still
    // in the caller's audit trail: those are answered; only a schedule with neither is unknown.
    const runs = await scheduler.runs.list({ account, kind: 'schedule', source: id, limit });
    if (!record && runs.length === 0) return sendError(res, 404, 'not_found', 'no such schedule');
    res.json({ runs });
  });
  router.get('/v1/runs', async (req: Request, res: Response) => {
    const kind = req.query.kind;
    if (kind !== undefined && !RUN_KINDS.includes(kind as RunKind)) return sendError(res, 400, 'bad_request', `kind must be one of ${RUN_KINDS.join(', ')}`);
    const limit = limitOf(req.query.limit);
    if (limit === undefined) return sendError(res, 400, 'bad_request', 'limit must be an integer from 1 to 500');
    const source = typeof req.query.source === 'string' ? req.query.source : undefined;
    res.json({ runs: await scheduler.runs.list({ account: res.locals.caller.account, ...(kind ? { kind: kind as RunKind } : {}), ...(source ? { source } : {}), limit }) });
  });
  router.delete('/v1/schedules/:id', async (req: Request, res: Response) => {
    const removed = await scheduler.delete(res.locals.caller.account, String(req.params.id));
    if (!removed) return sendError(res, 404, 'not_found', 'no such schedule');
    res.status(204).end();
  });
  return router;
}
