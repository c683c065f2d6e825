import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Api } from 'grammy';
import type { LaneIngress } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { AccessControl } from './access.ts';
import type { TelegramApprovals } from './approvals.ts';
import type { TelegramMetrics } from './metrics.ts';
import { normalizeMessage, type BotIdentity } from './normalize.ts';
import { TgUpdate } from './update.ts';

export interface WebhookDeps {
  api: Api;
  bot: BotIdentity;
  secret: string | undefined;
  ingress: LaneIngress;
  access: AccessControl;
  approvals: TelegramApprovals;
  metrics: TelegramMetrics;
  logger: Logger;
  groupRequireMention: boolean;
}

function sendError(res: Response, status: number, code: string, message: string): void {
  if (!res.headersSent) res.status(status).json({ error: { code, message } });
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function secretMatches(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

const isLoopback = (addr: string | undefined) => addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';

/**
 * `POST /webhooks/telegram`: verifies the secret header, validates the update, applies access
 * rules, and puts messages on their session lanes (once per update_id) before answering 200.
 * Edited messages are acknowledged and ignored: the original was already answered, and a second
 * answer to an edit would surprise more users than it helps.
 *
 * `POST /admin/telegram/pairings/:code/approve` (loopback clients only) pairs the user who was
 * given `code`.
 */
export function telegramRouter(deps: WebhookDeps): Router {
  const { metrics, logger: log } = deps;
  const router = Router();
  const count = (outcome: string) => metrics.updates.inc({ outcome });

  router.post('/webhooks/telegram', express.json({ limit: '1mb' }), async (req: Request, res: Response) => {
    if (!deps.secret) {
      count('unauthorized');
      return sendError(res, 503, 'config_error', 'TELEGRAM_WEBHOOK_SECRET is not set on this server, so Telegram webhooks are refused');
    }
    if (!secretMatches(req.get('x-telegram-bot-api-secret-token'), deps.secret)) {
      count('unauthorized');
      return sendError(res, 401, 'unauthorized', 'missing or wrong X-Telegram-Bot-Api-Secret-Token');
    }
    const parsed = TgUpdate.safeParse(req.body);
    if (!parsed.success) {
      count('rejected');
      metrics.inbound.inc({ platform: 'telegram', outcome: 'rejected' });
      return sendError(res, 400, 'bad_request', `not a Telegram update: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const update = parsed.data;
    try {
      const outcome = await handleUpdate(deps, update);
      count(outcome);
      res.json({ ok: true });
    } catch (err) {
      // Our side (Redis, Telegram API) failed: a 500 makes Telegram redeliver, and dedupe keeps it once.
      log.error({ err, updateId: update.update_id }, 'handling a telegram update failed');
      sendError(res, 500, 'handler_error', 'could not handle the update; Telegram will retry');
    }
  });

  router.post('/admin/telegram/pairings/:code/approve', async (req: Request, res: Response) => {
    if (!isLoopback(req.socket.remoteAddress)) return sendError(res, 403, 'forbidden', 'pairing approvals are accepted from loopback only');
    const code = String(req.params.code ?? '');
    if (!/^[A-Za-z0-9]{4,16}$/.test(code)) return sendError(res, 404, 'not_found', 'no such pairing code');
    const paired = await deps.access.approve(code);
    if (!paired) return sendError(res, 404, 'not_found', 'no such pairing code (or it expired)');
    log.info({ userId: paired.userId }, 'telegram user paired');
    await deps.api.sendMessage(paired.chatId, 'You are approved. Send your message again.').catch((err: unknown) => log.warn({ err }, 'could not tell the paired user'));
    res.json({ userId: paired.userId, userName: paired.userName ?? null });
  });
  return router;
}

async function handleUpdate(deps: WebhookDeps, update: TgUpdate): Promise<string> {
  if (update.callback_query) {
    if (!(await deps.access.firstSeen(update.update_id))) return 'duplicate';
    await deps.approvals.onCallback(update.callback_query);
    return 'callback';
  }
  const msg = update.message;
  if (!msg) return 'ignored'; // edits, channel posts and update kinds we do not handle
  const n = normalizeMessage(msg, deps.bot, Date.now());
  if (n.kind === 'ignored') return 'ignored';
  const { message } = n;
  if (n.isPrivate) {
    const decision = await deps.access.decideDm(message.userId, message.userName, message.chatId);
    if (!decision.allow) {
      if (decision.reason === 'pairing' && (await deps.access.firstSeen(update.update_id))) {
        await deps.api.sendMessage(
          message.chatId,
          `Hi! I only talk to people my owner approved. Your pairing code is ${decision.code}. Ask the owner to approve it; it expires soon.`,
        );
        return 'pairing';
      }
      return 'denied';
    }
  } else if (deps.groupRequireMention && !n.mentioned) {
    return 'ignored';
  }
  const result = await deps.ingress.submit(message, `telegram-${deps.bot.id}-${update.update_id}`);
  if (!result.duplicate) {
    // The message is safely on its lane; failing to follow it only delays approval buttons.
    await deps.approvals
      .watch(message.sessionKey, message.chatId, message.threadId)
      .catch((err: unknown) => deps.logger.warn({ err, sessionId: message.sessionKey }, 'could not follow the session for approvals'));
  }
  return result.duplicate ? 'duplicate' : 'accepted';
}
