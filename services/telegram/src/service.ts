import type { Worker } from 'bullmq';
import { Api } from 'grammy';
import type { Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger, ReadinessCheck } from '@switchboard/observability';
import { AttachmentStore, ChannelAccess, channelRuntime, createChannelOutboundWorker, ReplyStreamer } from '@switchboard/channels';
import { ApprovalBoard } from '@switchboard/tools';
import { botIdOf, telegramMode, type TelegramConfig } from './config.ts';
import { telegramDraftSurface, TELEGRAM_DRAFT_MAX_CHARS } from './draft-surface.ts';
import { telegramFiles } from './files.ts';
import type { BotIdentity } from './normalize.ts';
import { telegramSender } from './outbound-worker.ts';
import { startTelegramPoller, type TelegramPoller } from './polling.ts';
import { handleUpdate, telegramRouter, type WebhookDeps } from './webhook.ts';

export { loadTelegramConfig, telegramMode, TelegramEnv } from './config.ts';
export type { TelegramConfig } from './config.ts';
export { renderTelegramParts } from './render.ts';

export interface TelegramServiceDeps {
  config: TelegramConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
}

export interface TelegramService {
  /** Mount on any express app: `POST /webhooks/telegram` and the loopback-only pairing endpoint. */
  router: Router;
  bot: BotIdentity;
  mode: 'webhook' | 'polling';
  /** The long poller (polling mode only). */
  poller: TelegramPoller | undefined;
  /** Redis and the getMe made at start (and, polling, the poller); add to the app's /readyz. */
  readiness: Record<string, ReadinessCheck>;
  outbound: Worker;
  close(): Promise<void>;
}

/**
 * Starts the Telegram channel (no HTTP listener of its own: see main.ts for standalone mode), or
 * returns undefined, after saying so, when no `TELEGRAM_BOT_TOKEN` is configured.
 */
export async function startTelegramService(deps: TelegramServiceDeps): Promise<TelegramService | undefined> {
  const { config, logger } = deps;
  const token = config.TELEGRAM_BOT_TOKEN;
  if (!token) {
    logger.info('TELEGRAM_BOT_TOKEN is not set: the Telegram channel is disabled');
    return undefined;
  }
  const mode = telegramMode(config);
  if (mode === 'webhook' && !config.TELEGRAM_WEBHOOK_SECRET) logger.warn('TELEGRAM_WEBHOOK_SECRET is not set: POST /webhooks/telegram refuses every update');
  const prefix = config.SWITCHBOARD_PREFIX;
  const api = new Api(token, { apiRoot: config.TELEGRAM_API_ROOT });
  const bot: BotIdentity = { id: botIdOf(token), username: undefined };
  const runtime = channelRuntime({ platform: 'telegram', redisUrl: deps.redisUrl, prefix, registry: deps.registry, logger });
  const { redis, workerConnection, store, turns, ingress, hub, metrics, drafts } = runtime;
  const access = new ChannelAccess({
    redis,
    prefix,
    platform: 'telegram',
    account: bot.id,
    policy: config.TELEGRAM_DM_POLICY,
    groupPolicy: config.TELEGRAM_GROUP_POLICY,
    allowFrom: config.TELEGRAM_ALLOW_FROM,
    pairingTtlSeconds: config.TELEGRAM_PAIRING_TTL_SECONDS,
  });

  // getMe gives the username groups mention; until it answers, /readyz says why and retries.
  let getMeError: string | undefined = 'getMe has not answered yet';
  let getMeTimer: NodeJS.Timeout | undefined;
  const getMe = async (attempt: number): Promise<void> => {
    try {
      const me = await api.getMe();
      bot.username = me.username;
      getMeError = undefined;
      logger.info({ botId: bot.id, username: me.username }, 'telegram bot identified');
    } catch (err) {
      getMeError = `getMe failed: ${(err as Error).message}`;
      logger.warn({ err: (err as Error).message, attempt }, 'telegram getMe failed; retrying');
      getMeTimer = setTimeout(() => void getMe(attempt + 1), Math.min(30_000, 500 * 2 ** attempt));
      getMeTimer.unref();
    }
  };
  await getMe(0);

  if (mode === 'webhook' && config.TELEGRAM_WEBHOOK_URL && config.TELEGRAM_WEBHOOK_SECRET) {
    await api
      .setWebhook(config.TELEGRAM_WEBHOOK_URL, { secret_token: config.TELEGRAM_WEBHOOK_SECRET, allowed_updates: ['message', 'edited_message', 'callback_query'] })
      .then(() => logger.info({ url: config.TELEGRAM_WEBHOOK_URL }, 'telegram webhook set'))
      .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'setWebhook failed; set it by hand or fix TELEGRAM_WEBHOOK_URL'));
  }

  // Order per chat, about 1/s per chat and 30/s overall, 429 retry_after waits, approval keyboards.
  const outbound = createChannelOutboundWorker({
    platform: 'telegram',
    sender: telegramSender(api, bot.id, logger),
    connection: workerConnection,
    prefix,
    logger,
    metrics,
    concurrency: config.TELEGRAM_OUTBOUND_CONCURRENCY,
    chatIntervalMs: config.TELEGRAM_CHAT_INTERVAL_MS,
    globalRatePerSecond: config.TELEGRAM_GLOBAL_RATE_PER_SECOND,
    drafts,
  });
  const streamer = new ReplyStreamer({
    hub,
    redis,
    store,
    drafts,
    surface: telegramDraftSurface(api, { botId: bot.id, editIntervalMs: config.TELEGRAM_DRAFT_INTERVAL_MS, groupEditIntervalMs: Math.max(config.TELEGRAM_DRAFT_INTERVAL_MS, config.TELEGRAM_GROUP_DRAFT_INTERVAL_MS) }),
    logger,
    editIntervalMs: config.TELEGRAM_DRAFT_INTERVAL_MS,
    typingIntervalMs: config.TELEGRAM_TYPING_INTERVAL_MS,
    maxDraftChars: TELEGRAM_DRAFT_MAX_CHARS,
  });
  const attachments = new AttachmentStore(redis, prefix, { ttlSeconds: config.TELEGRAM_ATTACHMENT_TTL_SECONDS, maxBytes: config.TELEGRAM_ATTACHMENT_MAX_BYTES });
  const updateDeps: WebhookDeps = {
    api,
    bot,
    secret: mode === 'webhook' ? config.TELEGRAM_WEBHOOK_SECRET : undefined,
    ingress,
    access,
    board: new ApprovalBoard(redis, prefix),
    turns,
    metrics,
    logger,
    groupRequireMention: config.TELEGRAM_GROUP_REQUIRE_MENTION,
    groupSessionPerUser: config.TELEGRAM_GROUP_SESSION_PER_USER,
    files: telegramFiles({ api, token, apiRoot: config.TELEGRAM_API_ROOT, store: attachments, logger }),
    maxFileBytes: config.TELEGRAM_ATTACHMENT_MAX_BYTES,
    onAccepted: (m) => streamer.follow(m.sessionKey, { account: m.account, chatId: m.chatId, threadId: m.threadId }, m.id),
  };
  const router = telegramRouter(updateDeps);
  const poller =
    mode === 'polling'
      ? startTelegramPoller({
          api,
          redis,
          prefix,
          botId: bot.id,
          logger,
          timeoutSeconds: config.TELEGRAM_POLL_TIMEOUT_SECONDS,
          leaseMs: config.TELEGRAM_POLL_LEASE_MS,
          handle: async (update) => {
            metrics.updates.inc({ platform: 'telegram', outcome: await handleUpdate(updateDeps, update) });
          },
          onFailed: () => metrics.updates.inc({ platform: 'telegram', outcome: 'failed' }),
          onRejected: (updateId, reason) => {
            metrics.updates.inc({ platform: 'telegram', outcome: 'rejected' });
            metrics.inbound.inc({ platform: 'telegram', outcome: 'rejected' });
            logger.warn({ updateId, reason }, 'skipped a polled update that is not a valid Telegram update');
          },
        })
      : undefined;
  logger.info({ botId: bot.id, dmPolicy: config.TELEGRAM_DM_POLICY, mode }, 'telegram channel started');
  return {
    router,
    bot,
    mode,
    poller,
    outbound,
    readiness: {
      redis: async () => {
        await runtime.ping();
      },
      telegram: async () => {
        if (getMeError) throw new Error(getMeError);
        const problem = poller?.problem();
        if (problem) throw new Error(problem);
      },
    },
    async close() {
      clearTimeout(getMeTimer);
      await poller?.stop();
      streamer.close();
      await outbound.close();
      await runtime.close();
    },
  };
}
