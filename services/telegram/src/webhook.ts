import express, { Router, type Request, type Response } from 'express';
import type { Api } from 'grammy';
import { issuesText, sessionKey } from '@switchboard/contracts';
import { admitMessage, answerApprovalButton, pairingRouter, secretMatches, type ChannelAccess, type ChannelMetrics } from '@switchboard/channels';
import type { LaneIngress, TurnQueue } from '@switchboard/lanes';
import { writeError, type Logger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import type { TelegramFiles } from './files.ts';
import { normalizeMessage, type BotIdentity } from './normalize.ts';
import { escapeHtml } from './render.ts';
import { TgUpdate, type TgCallbackQuery } from './update.ts';

export interface WebhookDeps {
  api: Api;
  bot: BotIdentity;
  secret: string | undefined;
  ingress: LaneIngress;
  access: ChannelAccess;
  board: ApprovalBoard;
  turns: TurnQueue;
  metrics: ChannelMetrics;
  logger: Logger;
  groupRequireMention: boolean;
  /** TELEGRAM_GROUP_SESSION_PER_USER. */
  groupSessionPerUser?: boolean;
  /** Downloads photos, documents and voice messages into the AttachmentStore; without it files are only named. */
  files?: TelegramFiles;
  /** Largest file downloaded, in bytes (picks the photo size). */
  maxFileBytes?: number;
  /** Called once a new message is on its lane (typing, draft streaming). */
  onAccepted?: (message: { id: string; sessionKey: string; account: string; chatId: string; threadId?: string | undefined }) => Promise<void>;
}

/**
 * `POST /webhooks/telegram`: verifies the secret header, validates the update, applies access
 * rules, and puts messages on their session lanes (once per update_id) before answering 200.
 * An edited message is answered in a DM (as a new message marked "(edited)": the user fixed a
 * typo and wants the answer to the fixed question) and ignored in groups (edits there are mostly
 * chatter, and answering them again would be noise).
 *
 * `POST /admin/telegram/pairings/:code/approve` (loopback clients only) pairs the user who was
 * given `code`.
 */
export function telegramRouter(deps: WebhookDeps): Router {
  const { metrics, logger: log } = deps;
  const router = Router();
  const count = (outcome: string) => metrics.updates.inc({ platform: 'telegram', outcome });

  // The secret is checked before the body is read: an unauthenticated request gets 401 whatever it sends.
  const authenticated = (req: Request, res: Response, next: () => void) => {
    if (!deps.secret) {
      count('unauthorized');
      return writeError(res, 503, 'config_error', 'webhooks are off on this server (TELEGRAM_WEBHOOK_SECRET is not set, or TELEGRAM_MODE=polling)');
    }
    if (!secretMatches(req.get('x-telegram-bot-api-secret-token'), deps.secret)) {
      count('unauthorized');
      return writeError(res, 401, 'unauthorized', 'missing or wrong X-Telegram-Bot-Api-Secret-Token');
    }
    next();
  };
  // A body that is not JSON, or over 1 MB, is rejected by the app's error handler; counted here.
  const json = express.json({ limit: '1mb' });
  const body = (req: Request, res: Response, next: (err?: unknown) => void) =>
    json(req, res, (err?: unknown) => {
      if (err) {
        count('rejected');
        metrics.inbound.inc({ platform: 'telegram', outcome: 'rejected' });
      }
      next(err);
    });
  router.post('/webhooks/telegram', authenticated, body, async (req: Request, res: Response) => {
    const parsed = TgUpdate.safeParse(req.body);
    if (!parsed.success) {
      count('rejected');
      metrics.inbound.inc({ platform: 'telegram', outcome: 'rejected' });
      return writeError(res, 400, 'bad_request', `not a Telegram update: ${issuesText(parsed.error.issues)}`);
    }
    const update = parsed.data;
    try {
      count(await handleUpdate(deps, update));
      res.json({ ok: true });
    } catch (err) {
      // Our side (Redis, Telegram API) failed: a 500 makes Telegram redeliver, and dedupe keeps it once.
      log.error({ err, updateId: update.update_id }, 'handling a telegram update failed');
      writeError(res, 500, 'handler_error', 'could not handle the update; Telegram will retry');
    }
  });

  router.use(
    pairingRouter({
      platform: 'telegram',
      access: deps.access,
      logger: log,
      notify: async (paired) => {
        await deps.api.sendMessage(paired.chatId, 'You are approved. Send your message again.');
      },
    }),
  );
  return router;
}

/** Handles one validated update (webhook or long polling); returns the outcome it counted. */
export async function handleUpdate(deps: WebhookDeps, update: TgUpdate): Promise<string> {
  if (update.callback_query) {
    const callback = update.callback_query;
    return deps.access.handleOnce(update.update_id, async () => {
      await onCallback(deps, callback);
      return 'interaction';
    });
  }
  const edited = !update.message && update.edited_message !== undefined;
  const msg = update.message ?? (update.edited_message?.chat.type === 'private' ? update.edited_message : undefined);
  if (!msg) return 'ignored'; // group edits, channel posts and update kinds we do not handle
  const n = normalizeMessage(msg, deps.bot, Date.now(), {
    edited,
    groupSessionPerUser: deps.groupSessionPerUser ?? false,
    ...(deps.maxFileBytes !== undefined ? { maxFileBytes: deps.maxFileBytes } : {}),
  });
  if (n.kind === 'ignored') return 'ignored';
  if (!n.isPrivate && deps.groupRequireMention && !deps.bot.username) {
    // Without the bot's username (getMe has not answered yet) a mention cannot be recognised: fail,
    // so Telegram redelivers the update (or the poller fetches it again) instead of it being dropped.
    throw new Error("the bot's username is not known yet (getMe has not answered): a group message cannot be checked for a mention");
  }
  const { files } = deps;
  return admitMessage(
    {
      platform: 'telegram',
      access: deps.access,
      ingress: deps.ingress,
      logger: deps.logger,
      groupRequireMention: deps.groupRequireMention,
      sendPairingCode: async (chatId, code) => {
        await deps.api.sendMessage(chatId, `Hi! I only talk to people my owner approved. Your pairing code is ${code}. Ask the owner to approve it; it expires soon.`);
      },
      ...(deps.onAccepted ? { onAccepted: deps.onAccepted } : {}),
      ...(files && n.files.length > 0
        ? {
            prepare: async (message) => {
              const fetched = await files.fetch(n.files);
              const text = fetched.notes.length > 0 ? `${message.text}\n${fetched.notes.join('\n')}` : message.text;
              return { ...message, text, ...(fetched.attachments.length > 0 ? { attachments: fetched.attachments } : {}) };
            },
          }
        : {}),
    },
    { deliveryId: String(update.update_id), message: n.message, isPrivate: n.isPrivate, mentioned: n.mentioned },
  );
}

/** An inline-button press: decides the approval; the presser gets a toast, the prompt shows the verdict. */
async function onCallback(deps: WebhookDeps, cq: TgCallbackQuery): Promise<void> {
  const answer = (text: string) => deps.api.answerCallbackQuery(cq.id, { text }).catch(() => undefined);
  const chat = cq.message?.chat;
  if (!chat) {
    await answer('This button is not understood.');
    return;
  }
  const outcome = await answerApprovalButton(
    { board: deps.board, turns: deps.turns, access: deps.access, account: deps.bot.id },
    {
      data: cq.data,
      chatSessionKey: sessionKey({ platform: 'telegram', account: deps.bot.id, chatId: String(chat.id) }),
      presserId: String(cq.from.id),
      ownDm: chat.type === 'private' && chat.id === cq.from.id,
      platform: 'telegram',
    },
  );
  if (!outcome.ok) {
    await answer(outcome.message);
    return;
  }
  await answer(outcome.verdict);
  if (cq.message) {
    await deps.api
      .editMessageText(chat.id, cq.message.message_id, `${outcome.verdict} <b>${escapeHtml(outcome.tool)}</b> (by ${escapeHtml(cq.from.username ?? cq.from.first_name)})`, { parse_mode: 'HTML' })
      .catch((err: unknown) => deps.logger.warn({ err }, 'could not update the approval message'));
  }
}
