import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { issueList, SafeId } from '@switchboard/contracts';
import { dedupeKey, type LaneIngress } from '@switchboard/lanes';
import { sendError } from '../http-errors.ts';
import { MAX_MESSAGE_CHARS, webInbound } from '../web-session.ts';

const Body = z.object({
  text: z
    .string()
    .max(MAX_MESSAGE_CHARS)
    .refine((t) => t.trim() !== '', 'text must not be empty or blank'),
  idempotencyKey: SafeId.optional(),
});

/** `POST /v1/sessions/{sessionId}/messages` → 202 `{ messageId }`. */
export function messagesRouter(ingress: LaneIngress): Router {
  const router = Router();
  router.post('/v1/sessions/:sessionId/messages', async (req: Request, res: Response) => {
    const sessionId = SafeId.safeParse(req.params.sessionId);
    if (!sessionId.success) return sendError(res, 400, 'bad_request', `invalid session id: ${sessionId.error.issues[0]?.message}`);
    const body = Body.safeParse(req.body);
    if (!body.success) return sendError(res, 400, 'bad_request', 'invalid body', issueList(body.error.issues));
    const headerKey = req.get('idempotency-key');
    const key = body.data.idempotencyKey ?? headerKey;
    if (key !== undefined && !SafeId.safeParse(key).success) return sendError(res, 400, 'bad_request', 'invalid idempotency key');
    const inbound = webInbound(res.locals.caller.account, sessionId.data, body.data.text);
    const result = await ingress.submit(inbound, key ? dedupeKey('web', inbound.account, sessionId.data, key) : undefined);
    res.status(202).json({ messageId: result.messageId, sessionId: sessionId.data, duplicate: result.duplicate });
  });
  return router;
}
