import type { Worker } from 'bullmq';
import type { Router } from 'express';
import type { Registry } from 'prom-client';
import { gauge, type Logger, type ReadinessCheck } from '@switchboard/observability';
import { AttachmentStore, ChannelAccess, channelRuntime, createChannelOutboundWorker, ReplyStreamer } from '@switchboard/channels';
import { ApprovalBoard } from '@switchboard/tools';
import type { WhatsAppConfig } from './config.ts';
import { GraphApi } from './graph-api.ts';
import { WebhookJournal } from './journal.ts';
import { whatsappMedia } from './media.ts';
import { whatsappSender } from './outbound-worker.ts';
import { WebhookProcessor } from './processor.ts';
import { TypingSurface } from './typing.ts';
import { whatsappRouter } from './webhook.ts';
import { wamidFromInbound } from './normalize.ts';

export { loadWhatsAppConfig, WhatsAppEnv } from './config.ts';
export type { WhatsAppConfig } from './config.ts';
export { renderWhatsApp, renderWhatsAppParts, WHATSAPP_MESSAGE_LIMIT } from './render.ts';

export interface WhatsAppServiceDeps {
  config: WhatsAppConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
  /** Journal sweep timing (tests shorten it). */
  journal?: { staleMs?: number; sweepIntervalMs?: number };
  /** Waits before each new try of a media download Meta failed to serve (tests shorten them). */
  mediaRetryDelaysMs?: readonly number[];
}

export interface WhatsAppService {
  /** Mount on any express app: `GET|POST /webhooks/whatsapp` and the loopback-only pairing endpoint. */
  router: Router;
  /** Redis, and the Graph API answering for the configured number; add to the app's /readyz. */
  readiness: Record<string, ReadinessCheck>;
  api: GraphApi;
  outbound: Worker;
  processor: WebhookProcessor;
  close(): Promise<void>;
}

/** How long a successful Graph API readiness check is trusted, so probes do not spend API calls. */
const READY_CACHE_MS = 60_000;

/**
 * Starts the WhatsApp channel (no HTTP listener of its own: see main.ts for standalone mode), or
 * returns undefined, after saying so, when no `WHATSAPP_ACCESS_TOKEN` is configured.
 */
export async function startWhatsAppService(deps: WhatsAppServiceDeps): Promise<WhatsAppService | undefined> {
  const { config, logger } = deps;
  const token = config.WHATSAPP_ACCESS_TOKEN;
  if (!token) {
    logger.info('WHATSAPP_ACCESS_TOKEN is not set: the WhatsApp channel is disabled');
    return undefined;
  }
  if (!config.WHATSAPP_APP_SECRET) logger.warn('WHATSAPP_APP_SECRET is not set: POST /webhooks/whatsapp refuses every delivery');
  if (!config.WHATSAPP_VERIFY_TOKEN) logger.warn('WHATSAPP_VERIFY_TOKEN is not set: GET /webhooks/whatsapp refuses the verification handshake');
  const prefix = config.SWITCHBOARD_PREFIX;
  const api = new GraphApi({ baseUrl: config.WHATSAPP_API_URL, accessToken: token, timeoutMs: config.WHATSAPP_API_TIMEOUT_MS });
  const runtime = channelRuntime({ platform: 'whatsapp', redisUrl: deps.redisUrl, prefix, registry: deps.registry, logger });
  const { redis, workerConnection, store, turns, ingress, hub, metrics, drafts } = runtime;
  // Pairings and the allowlist are per deployment (one WHATSAPP_ALLOW_FROM for all its numbers).
  const access = new ChannelAccess({
    redis,
    prefix,
    platform: 'whatsapp',
    account: config.WHATSAPP_PHONE_NUMBER_ID ?? 'all',
    policy: config.WHATSAPP_DM_POLICY,
    allowFrom: config.WHATSAPP_ALLOW_FROM,
    pairingTtlSeconds: config.WHATSAPP_PAIRING_TTL_SECONDS,
  });
  const userAccountKey = (userId: string) => `${prefix}:ch:whatsapp:user-account:${userId}`;
  const surface = new TypingSurface(api);
  const streamer = new ReplyStreamer({
    hub,
    redis,
    store,
    drafts,
    surface,
    logger,
    editIntervalMs: 0, // no message edits in the Cloud API: typing only, the reply comes whole
    typingIntervalMs: config.WHATSAPP_TYPING_INTERVAL_MS,
    maxDraftChars: 0,
  });

  // Order per user, 80/s per number by default, rate-limit backoff, approval reply buttons.
  const outbound = createChannelOutboundWorker({
    platform: 'whatsapp',
    sender: whatsappSender(api, { baseBackoffMs: config.WHATSAPP_RATE_LIMIT_BACKOFF_MS }),
    connection: workerConnection,
    prefix,
    logger,
    metrics,
    concurrency: config.WHATSAPP_OUTBOUND_CONCURRENCY,
    chatIntervalMs: config.WHATSAPP_CHAT_INTERVAL_MS,
    globalRatePerSecond: config.WHATSAPP_GLOBAL_RATE_PER_SECOND,
  });
  const processor = new WebhookProcessor({
    journal: new WebhookJournal(redis, prefix),
    metrics,
    logger,
    ...(deps.journal ?? {}),
    handler: {
      api,
      ingress,
      access,
      board: new ApprovalBoard(redis, prefix),
      turns,
      metrics,
      logger,
      phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID,
      media: whatsappMedia({
        api,
        store: new AttachmentStore(redis, prefix, { maxBytes: config.WHATSAPP_ATTACHMENT_MAX_BYTES, ttlSeconds: config.WHATSAPP_ATTACHMENT_TTL_SECONDS }),
        logger,
        ...(deps.mediaRetryDelaysMs ? { retryDelaysMs: deps.mediaRetryDelaysMs } : {}),
      }),
      rememberAccount: async (userId, account) => {
        await redis.set(userAccountKey(userId), account, 'EX', 7 * 24 * 3600);
      },
      onAccepted: async (message) => {
        const target = { account: message.account, chatId: message.chatId };
        const wamid = wamidFromInbound(message.id);
        if (wamid) surface.noteInbound(target, wamid);
        await streamer.follow(message.sessionKey, target, message.id);
      },
    },
  });
  const journal = processor.journal;
  gauge(deps.registry, {
    name: 'switchboard_channel_unhandled_deliveries',
    help: 'Webhook deliveries acknowledged to the platform but not handled yet (journaled in Redis), by platform',
    labelNames: ['platform'] as const,
    async collect() {
      this.set({ platform: 'whatsapp' }, await journal.size().catch(() => 0));
    },
  });
  const router = whatsappRouter({
    api,
    appSecret: config.WHATSAPP_APP_SECRET,
    verifyToken: config.WHATSAPP_VERIFY_TOKEN,
    access,
    metrics,
    logger,
    processor,
    accountFor: async (userId) => config.WHATSAPP_PHONE_NUMBER_ID ?? (await redis.get(userAccountKey(userId))) ?? undefined,
  });
  // Deliveries an earlier run acknowledged but did not finish are picked up by the first sweep.
  void processor.sweep();

  let readyUntil = 0;
  const graphReady = async () => {
    if (Date.now() < readyUntil) return;
    if (config.WHATSAPP_PHONE_NUMBER_ID) await api.phoneNumber(config.WHATSAPP_PHONE_NUMBER_ID);
    else await api.me();
    readyUntil = Date.now() + READY_CACHE_MS;
  };
  logger.info({ phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID ?? 'from each delivery', dmPolicy: config.WHATSAPP_DM_POLICY }, 'whatsapp channel started');
  return {
    router,
    api,
    outbound,
    processor,
    readiness: {
      redis: async () => {
        await runtime.ping();
      },
      whatsapp: async () => {
        if (!config.WHATSAPP_APP_SECRET) throw new Error('WHATSAPP_APP_SECRET is not set');
        await graphReady();
      },
    },
    async close() {
      await processor.close();
      streamer.close();
      await outbound.close();
      await runtime.close();
    },
  };
}
