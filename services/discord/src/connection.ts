import { Client, Events, GatewayIntentBits, Options } from 'discord.js';
import type { ChannelMetrics } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import type { DiscordConfig } from './config.ts';
import { classifyDispatch, type GatewayHandler } from './gateway.ts';
import type { BotIdentity, BotRole, ChannelPlace } from './normalize.ts';

export interface GatewayConnection {
  /** Resolves once READY arrived the first time. */
  ready: Promise<void>;
  /** Why the gateway is not usable right now, or undefined when every shard is connected. */
  problem(): string | undefined;
  place: ChannelPlace;
  botRole: BotRole;
  close(): Promise<void>;
}

/** What gateway packets look like to a raw listener. */
interface RawPacket {
  t: string;
  d: unknown;
}

/**
 * The gateway connection through discord.js: IDENTIFY with the intents the service needs, one
 * connection per shard (`DISCORD_SHARD_ID`/`DISCORD_SHARD_COUNT`, or the recommended shards when
 * unset), heartbeats, RESUME after a drop. Events are read from the raw dispatch stream, validated
 * here and handed to the `GatewayHandler`; discord.js keeps only what it needs to know which
 * channels are threads (guilds, channels, threads; no message cache).
 *
 * A login that fails (Discord unreachable, a bad token) is retried with backoff while `/readyz`
 * says why, so a Discord outage at start-up does not crash the process.
 */
export function connectGateway(opts: {
  config: DiscordConfig;
  token: string;
  bot: BotIdentity;
  handler: GatewayHandler;
  metrics: ChannelMetrics;
  logger: Logger;
  /**
   * Called synchronously on every READY (a fresh IDENTIFY: the events of the gap are lost, unlike
   * after a RESUME), before the session's first event is handed on; `shard` is `[id, count]`.
   */
  onReady?: (shard: [number, number]) => void;
}): GatewayConnection {
  const { config, bot, handler, metrics, logger } = opts;
  let client: Client | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let problem: string | undefined = 'the gateway has not sent READY yet';
  const shardUp = new Map<number, boolean>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });

  const makeClient = () => {
    const c = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent],
      rest: { api: config.DISCORD_API_URL, timeout: config.DISCORD_REST_TIMEOUT_MS, retries: config.DISCORD_REST_RETRIES },
      ...(config.DISCORD_SHARD_ID !== undefined ? { shards: [config.DISCORD_SHARD_ID], shardCount: config.DISCORD_SHARD_COUNT! } : { shards: 'auto' as const }),
      // Messages are read from the raw stream, so discord.js caches none; guilds, channels and threads stay.
      makeCache: Options.cacheWithLimits({
        MessageManager: 0,
        PresenceManager: 0,
        ReactionManager: 0,
        GuildMemberManager: { maxSize: 200, keepOverLimit: (m) => m.id === bot.id },
        UserManager: { maxSize: 1000, keepOverLimit: (u) => u.id === bot.id },
      }),
      allowedMentions: { parse: [] },
    });
    c.on(Events.Raw, (packet: RawPacket, shardId: number) => {
      if (packet.t === 'READY' || packet.t === 'RESUMED') {
        shardUp.set(shardId, true);
        if (packet.t === 'READY') {
          const user = (packet.d as { user?: { id?: string; username?: string } }).user;
          if (user?.id && user.id !== bot.id) logger.error({ tokenBotId: bot.id, readyBotId: user.id }, 'READY names another bot than the token; check DISCORD_BOT_TOKEN');
          bot.username = user?.username;
          logger.info({ shardId, username: bot.username }, 'discord gateway ready');
          const shard = (packet.d as { shard?: unknown }).shard;
          opts.onReady?.(Array.isArray(shard) && shard.length === 2 ? [Number(shard[0]), Number(shard[1])] : [shardId, 1]);
          resolveReady();
        } else logger.info({ shardId }, 'discord gateway resumed');
        problem = [...shardUp.values()].every(Boolean) ? undefined : 'a shard is reconnecting';
        return;
      }
      const classified = classifyDispatch(packet.t, packet.d);
      switch (classified.kind) {
        case 'rejected':
          metrics.updates.inc({ platform: 'discord', outcome: 'rejected' });
          metrics.inbound.inc({ platform: 'discord', outcome: 'rejected' });
          logger.warn({ event: packet.t, shardId, reason: classified.reason }, 'rejected an invalid gateway event');
          // Keep it from discord.js's own handlers too, which assume a well-formed payload.
          packet.t = `SWITCHBOARD_REJECTED_${packet.t}`;
          return;
        case 'message':
          void handler.message(classified.message, classified.edit);
          // Read here from the raw packet: discord.js's own handling would only build objects no
          // one uses, and keep a DM channel per user who ever wrote the bot, for good.
          packet.t = `SWITCHBOARD_HANDLED_${packet.t}`;
          return;
        case 'interaction':
          void handler.interaction(classified.interaction);
          packet.t = `SWITCHBOARD_HANDLED_${packet.t}`;
          return;
        default:
      }
    });
    c.on(Events.ShardReconnecting, (shardId: number) => {
      shardUp.set(shardId, false);
      problem = `shard ${shardId} is reconnecting`;
      logger.warn({ shardId }, 'discord gateway reconnecting');
    });
    c.on(Events.ShardDisconnect, (event: { code: number }, shardId: number) => {
      shardUp.set(shardId, false);
      problem = `shard ${shardId} disconnected for good (close code ${event.code})`;
      logger.error({ shardId, code: event.code }, 'discord gateway closed and will not reconnect; check the token and intents');
    });
    c.on(Events.ShardError, (err: Error, shardId: number) => logger.warn({ err, shardId }, 'discord gateway error'));
    c.on(Events.Error, (err: Error) => logger.error({ err }, 'discord client error'));
    return c;
  };

  const login = async (attempt: number): Promise<void> => {
    if (closed) return;
    const c = makeClient();
    client = c;
    try {
      await c.login(opts.token);
    } catch (err) {
      if (closed) return; // shutting down mid-login
      // login() destroys the client on failure; a fresh one is made for the next attempt.
      problem = `gateway login failed: ${(err as Error).message}`;
      const waitMs = Math.min(60_000, 1_000 * 2 ** attempt);
      logger.error({ err: (err as Error).message, attempt, retryInMs: waitMs }, 'discord login failed; retrying');
      retryTimer = setTimeout(() => void login(attempt + 1), waitMs);
      retryTimer.unref();
    }
  };
  void login(0);

  return {
    ready,
    problem: () => problem,
    place(channelId) {
      const channel = client?.channels.cache.get(channelId);
      if (channel?.isThread() && channel.parentId) return { chatId: channel.parentId, threadId: channel.id };
      return { chatId: channelId };
    },
    botRole: (guildId) => client?.guilds.cache.get(guildId)?.roles.botRoleFor(bot.id)?.id,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      problem = 'shutting down';
      await client?.destroy();
    },
  };
}
