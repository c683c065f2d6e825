import express, { Router, type Request, type Response } from 'express';
import { hmacSha256Hex, pairingRouter, secretMatches, signatureMatches, type ChannelAccess, type ChannelMetrics } from '@switchboard/channels';
import { writeError, type Logger } from '@switchboard/observability';
import type { GraphApi } from './graph-api.ts';
import type { WebhookProcessor } from './processor.ts';
import { validatePayload, type WaWebhook } from './payload.ts';

export interface WebhookDeps {
  api: GraphApi;
  appSecret: string | undefined;
  verifyToken: string | undefined;
  access: ChannelAccess;
  metrics: ChannelMetrics;
  logger: Logger;
  processor: WebhookProcessor;
  /** The business number to answer a paired user from. */
  accountFor(userId: string): Promise<string | undefined>;
}

const hasMessages = (p: WaWebhook) =>
  p.entry.some((e) => e.changes.some((c) => c.field === 'messages' && Array.isArray((c.value as { messages?: unknown }).messages) && (c.value as { messages: unknown[] }).messages.length > 0));

/**
 * `GET /webhooks/whatsapp`: Meta's verification handshake (echoes `hub.challenge` when
 * `hub.verify_token` matches WHATSAPP_VERIFY_TOKEN, compared in constant time).
 *
 * `POST /webhooks/whatsapp`: checks `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the app
 * secret, constant time; 401 when missing or wrong), validates the payload (400, counted as
 * rejected), writes it to the journal, answers 200 at once and handles it afterwards.
 *
 * `POST /admin/whatsapp/pairings/:code/approve` (loopback clients only) pairs a user.
 */
export function whatsappRouter(deps: WebhookDeps): Router {
  const { metrics, logger: log } = deps;
  const router = Router();
  const count = (outcome: string) => metrics.updates.inc({ platform: 'whatsapp', outcome });

  router.get('/webhooks/whatsapp', (req: Request, res: Response) => {
    const q = req.query;
    const mode = typeof q['hub.mode'] === 'string' ? q['hub.mode'] : undefined;
    const token = typeof q['hub.verify_token'] === 'string' ? q['hub.verify_token'] : undefined;
    const challenge = typeof q['hub.challenge'] === 'string' ? q['hub.challenge'] : '';
    if (!deps.verifyToken || mode !== 'subscribe' || !secretMatches(token, deps.verifyToken)) {
      log.warn({ mode }, 'whatsapp: webhook verification refused');
      return writeError(res, 403, 'forbidden', deps.verifyToken ? 'verification failed' : 'WHATSAPP_VERIFY_TOKEN is not set on this server');
    }
    log.info('whatsapp: webhook verified');
    res.type('text/plain').send(challenge);
  });

  router.post('/webhooks/whatsapp', express.raw({ type: () => true, limit: '3mb' }), async (req: Request, res: Response) => {
    if (!deps.appSecret) {
      count('unauthorized');
      return writeError(res, 503, 'config_error', 'WHATSAPP_APP_SECRET is not set on this server, so WhatsApp webhooks are refused');
    }
    // The signature covers the exact bytes Meta sent: never re-serialize before checking it.
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!signatureMatches(req.get('x-hub-signature-256'), `sha256=${hmacSha256Hex(deps.appSecret, body)}`)) {
      count('unauthorized');
      return writeError(res, 401, 'unauthorized', 'missing or wrong X-Hub-Signature-256');
    }
    const checked = validatePayload(body);
    if (!checked.ok) {
      count('rejected');
      metrics.inbound.inc({ platform: 'whatsapp', outcome: 'rejected' });
      return writeError(res, 400, 'bad_request', `not a WhatsApp Cloud API webhook: ${checked.reason}`);
    }
    if (checked.payload.object !== 'whatsapp_business_account') {
      count('ignored');
      res.sendStatus(200);
      return;
    }
    if (!hasMessages(checked.payload)) {
      // Statuses (sent, delivered, read, failed) arrive for every message we send: nothing to keep.
      res.sendStatus(200);
      deps.processor.process(undefined, checked.payload);
      return;
    }
    let entry;
    try {
      entry = await deps.processor.journal.add(body.toString('utf8'));
    } catch (err) {
      // Not recorded: a 500 makes Meta deliver it again, and wamid dedupe keeps it once.
      log.error({ err }, 'whatsapp: could not record a delivery');
      return writeError(res, 500, 'handler_error', 'could not record the delivery; Meta will retry');
    }
    res.sendStatus(200);
    deps.processor.process(entry, checked.payload);
  });

  router.use(
    pairingRouter({
      platform: 'whatsapp',
      access: deps.access,
      logger: log,
      notify: async (paired) => {
        const account = await deps.accountFor(paired.userId);
        if (!account) throw new Error('no business number known for this user');
        await deps.api.sendText(account, paired.chatId, 'You are approved. Send your message again.');
      },
    }),
  );
  return router;
}
