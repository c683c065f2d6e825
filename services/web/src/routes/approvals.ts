import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { TurnQueue } from '@switchboard/lanes';
import type { ApprovalBoard } from '@switchboard/tools';
import { sendError } from '../http-errors.ts';

const Body = z.object({ decision: z.enum(['approve', 'deny']) });
const ApprovalId = z.string().regex(/^ap_[a-f0-9]{32}$/);

/**
 * `POST /v1/approvals/{approvalId}` `{ "decision": "approve" | "deny" }`: answers an approval
 * request of one of the caller's sessions, once, and wakes the parked turn.
 */
export function approvalsRouter(board: ApprovalBoard, turns: TurnQueue): Router {
  const router = Router();
  router.post('/v1/approvals/:approvalId', async (req: Request, res: Response) => {
    const id = ApprovalId.safeParse(req.params.approvalId);
    if (!id.success) return sendError(res, 404, 'not_found', 'no such approval request');
    const body = Body.safeParse(req.body);
    if (!body.success) return sendError(res, 400, 'bad_request', 'decision must be "approve" or "deny"');
    const caller = res.locals.caller;
    // Operators may answer any account's request (a Telegram session's, say); others only their own.
    const account = caller.operator ? ((await board.get(id.data))?.account ?? caller.account) : caller.account;
    const result = await board.decide(id.data, body.data.decision === 'approve' ? 'approved' : 'denied', account, `api:${caller.account}`);
    if (!result.ok) {
      if (result.code === 'not_found') return sendError(res, 404, 'not_found', 'no such approval request');
      return sendError(res, 409, 'conflict', `this request was already ${result.status ?? 'decided'}`);
    }
    await turns.request(result.state.sessionKey);
    res.json({ id: id.data, status: result.state.status });
  });
  return router;
}
