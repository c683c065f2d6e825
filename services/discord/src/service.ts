import type { Worker } from 'bullmq';
import type { Router } from 'express';
import type { Registry } from 'prom-client';
import { REST, Routes } from 'discord.js';
import type { Logger, ReadinessCheck } from '@switchboard/observability';
import { AttachmentStore, ChannelAccess, channelRuntime, createChannelOutboundWorker, pairingRouter, ReplyStreamer } from '@switchboard/channels';
import { ApprovalBoard } from '@switchboard/tools';
import { botIdOf, type DiscordConfig } from './config.ts';
import { catchupMetrics, CatchupStore, runCatchup } from './catchup.ts';
import { connectGateway, type GatewayConnection } from './connection.ts';
import { discordFiles } from './files.ts';
import { GatewayHandler } from './gateway.ts';
import type { BotIdentity } from './normalize.ts';
import { DISCORD_MESSAGE_LIMIT, NO_MENTIONS } from './render.ts';
import { discordDraftSurface, discordSender } from './sender.ts';

export { loadDiscordConfig, DiscordEnv } from './config.ts';
export type { DiscordConfig } from './config.ts';
export { renderDiscordParts } from './render.ts';

export interface DiscordServiceDeps {
  config: DiscordConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
}

export interface DiscordService {
  /** Mount on any express app: the loopback-only pairing endpoint (Discord itself talks over the gateway). */
  router: Router;
  bot: BotIdentity;
  /** Redis, and the gateway: READY (or RESUMED) received on every shard of this process. */
  readiness: Record<string, ReadinessCheck>;
  /** Resolves once the gateway is ready the first time. */
  ready: Promise<void>;
  outbound: Worker;
  close(): Promise<void>;
}

/**
 * Starts the Discord channel: one gateway connection per shard (discord.js), the outbound worker
 * on the REST API, and the pairing route (no HTTP listener of its own: see main.ts). Returns
 * undefined, after saying so, when no `DISCORD_BOT_TOKEN` is configured.
 */
export async function startDiscordService(deps: DiscordServiceDeps): Promise<DiscordService | undefined> {
  const { config, logger } = deps;
  const token = config.DISCORD_BOT_TOKEN;
  if (!token) {
    logger.info('DISCORD_BOT_TOKEN is not set: the Discord channel is disabled');
    return undefined;
  }
  const prefix = config.SWITCHBOARD_PREFIX;
  const bot: BotIdentity = { id: botIdOf(token)!, username: undefined };
  // One REST client for everything the service sends: it keeps Discord's per-route buckets and the
  // global limit, and waits out 429s itself (queued per route, so nothing is reordered).
  const rest = new REST({
    api: config.DISCORD_API_URL,
    timeout: config.DISCORD_REST_TIMEOUT_MS,
    retries: config.DISCORD_REST_RETRIES,
    globalRequestsPerSecond: config.DISCORD_GLOBAL_RATE_PER_SECOND,
  }).setToken(token);
  const runtime = channelRuntime({ platform: 'discord', redisUrl: deps.redisUrl, prefix, registry: deps.registry, logger });
  const { redis, workerConnection, store, turns, ingress, hub, metrics, drafts } = runtime;
  rest.on('response', (_request, response) => {
    if (response.status === 429) metrics.sends.inc({ platform: 'discord', outcome: 'rate_limited' });
  });
  const access = new ChannelAccess({
    redis,
    prefix,
    platform: 'discord',
    account: bot.id,
    policy: config.DISCORD_DM_POLICY,
    groupPolicy: config.DISCORD_GROUP_POLICY,
    allowFrom: config.DISCORD_ALLOW_FROM,
    pairingTtlSeconds: config.DISCORD_PAIRING_TTL_SECONDS,
  });
  const streamer = new ReplyStreamer({
    hub,
    redis,
    store,
    drafts,
    surface: discordDraftSurface(rest, bot.id),
    logger,
    editIntervalMs: config.DISCORD_EDIT_INTERVAL_MS,
    // Discord shows "typing…" for about 10 s per call.
    typingIntervalMs: 8_000,
    maxDraftChars: DISCORD_MESSAGE_LIMIT - 100,
  });

  const outbound = createChannelOutboundWorker({
    platform: 'discord',
    sender: discordSender(rest, bot.id),
    connection: workerConnection,
    prefix,
    logger,
    metrics,
    concurrency: config.DISCORD_OUTBOUND_CONCURRENCY,
    chatIntervalMs: config.DISCORD_CHAT_INTERVAL_MS,
    globalRatePerSecond: config.DISCORD_GLOBAL_RATE_PER_SECOND,
    drafts,
  });

  const catchupOn = config.DISCORD_CATCHUP_WINDOW_HOURS > 0;
  const catchup = new CatchupStore({ redis, prefix, botId: bot.id, windowMs: config.DISCORD_CATCHUP_WINDOW_HOURS * 3_600_000, maxChannels: config.DISCORD_CATCHUP_MAX_CHANNELS });
  const catchupCounts = catchupMetrics(deps.registry);
  let closing = false;
  const catchups = new Set<Promise<unknown>>();

  const handler = new GatewayHandler({
    rest,
    bot,
    // Events arrive only after the connection below exists.
    place: (channelId) => gateway.place(channelId),
    botRole: (guildId) => gateway.botRole(guildId),
    access,
    ingress,
    board: new ApprovalBoard(redis, prefix),
    turns,
    metrics,
    logger,
    groupRequireMention: config.DISCORD_GROUP_REQUIRE_MENTION,
    perUserInGroups: config.DISCORD_GROUP_SESSION_PER_USER,
    files: discordFiles({
      apiUrl: config.DISCORD_API_URL,
      store: new AttachmentStore(redis, prefix, { maxBytes: config.DISCORD_ATTACHMENT_MAX_BYTES, ttlSeconds: config.DISCORD_ATTACHMENT_TTL_SECONDS }),
      logger,
      timeoutMs: config.DISCORD_ATTACHMENT_TIMEOUT_MS,
    }),
    // A DM or server channel where the bot was addressed becomes tracked; then every handled message moves its id on.
    onHandled: async (h) => {
      if (!catchupOn) return;
      const track = h.outcome === 'accepted' || h.outcome === 'duplicate' || h.outcome === 'pairing';
      await catchup.record(h.channelId, h.messageId, { track, ...(h.place ? { place: h.place } : {}) });
    },
    onAccepted: async (m) => {
      await streamer.follow(m.sessionKey, { account: m.account, chatId: m.chatId, threadId: m.threadId }, m.id);
    },
  });
  const ownsShard = (guildId: string | undefined, [shardId, count]: [number, number]) =>
    guildId === undefined ? shardId === 0 : Number((BigInt(guildId) >> 22n) % BigInt(count)) === shardId;
  const gateway: GatewayConnection = connectGateway({
    config,
    token,
    bot,
    handler,
    metrics,
    logger,
    onReady: (shard) => {
      if (!catchupOn || closing) return;
      const session = handler.startCatchup();
      const run = runCatchup({
        store: catchup,
        rest,
        session,
        maxChannels: config.DISCORD_CATCHUP_MAX_CHANNELS,
        maxMessages: config.DISCORD_CATCHUP_MAX_MESSAGES,
        // DMs go to shard 0; a server's channels to the shard that has the server.
        owns: (place) => ownsShard(place.guildId, shard),
        metrics: catchupCounts,
        logger,
        isClosed: () => closing,
      }).catch((err: unknown) => {
        // runCatchup does not throw; should it, live messages must not stay held.
        session.end();
        logger.error({ err }, 'discord catch-up failed');
      });
      catchups.add(run);
      void run.finally(() => catchups.delete(run));
    },
  });

  const router = pairingRouter({
    platform: 'discord',
    access,
    logger,
    notify: async (paired) => {
      await rest.post(Routes.channelMessages(paired.chatId), { body: { content: 'You are approved. Send your message again.', allowed_mentions: NO_MENTIONS } });
    },
  });
  logger.info({ botId: bot.id, dmPolicy: config.DISCORD_DM_POLICY, shard: config.DISCORD_SHARD_ID ?? 'auto' }, 'discord channel started');
  return {
    router,
    bot,
    outbound,
    ready: gateway.ready,
    readiness: {
      redis: async () => {
        await runtime.ping();
      },
      discord: async () => {
        const problem = gateway.problem();
        if (problem) throw new Error(problem);
      },
    },
    async close() {
      closing = true;
      await gateway.close();
      await Promise.all(catchups);
      await handler.drain();
      streamer.close();
      await outbound.close();
      await runtime.close();
    },
  };
}
