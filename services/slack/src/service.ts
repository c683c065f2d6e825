import { App, SocketModeReceiver, webApi } from '@slack/bolt';
import type { Worker } from 'bullmq';
import { Router, type Router as ExpressRouter } from 'express';
import type { Registry } from 'prom-client';
import { AttachmentStore, ChannelAccess, channelRuntime, createChannelOutboundWorker, pairingRouter, ReplyStreamer } from '@switchboard/channels';
import { writeError, type Logger, type ReadinessCheck } from '@switchboard/observability';
import { ApprovalBoard } from '@switchboard/tools';
import { boltLogger } from './bolt-logger.ts';
import type { SlackConfig } from './config.ts';
import { slackFiles } from './files.ts';
import { SlackHttpReceiver } from './http-receiver.ts';
import { registerListeners } from './listeners.ts';
import type { SlackIdentity } from './normalize.ts';
import { deleteMessage, isUneditable, postMessage, slackSender, updateMessage } from './outbound-worker.ts';
import { escapeMrkdwn, SLACK_MESSAGE_LIMIT } from './render.ts';

export { loadSlackConfig, SlackEnv } from './config.ts';
export type { SlackConfig } from './config.ts';
export { renderSlackParts, SLACK_MESSAGE_LIMIT } from './render.ts';
export type { SlackIdentity } from './normalize.ts';

/**
 * Socket Mode with the same acknowledgement rule as HTTP: Bolt's SocketModeReceiver acks an
 * envelope before the listeners run, so a message that then fails to reach its lane would be lost.
 * This replaces its `slack_event` handler with one that acks once the listeners are done (at the
 * latest after `deadlineMs`) and leaves a failed envelope unacked, so Slack redelivers it
 * (`retry_attempt`) and the dedupe keeps it once.
 */
function deferSocketAcks(receiver: SocketModeReceiver, app: App, deadlineMs: number, logger: Logger): void {
  type SlackEventArgs = { ack: (response?: unknown) => Promise<void>; body: Record<string, unknown>; retry_num?: number; retry_reason?: string };
  receiver.client.removeAllListeners('slack_event');
  receiver.client.on('slack_event', async (args: SlackEventArgs) => {
    let acked = false;
    let response: unknown;
    const ack = async () => {
      if (acked) return;
      acked = true;
      await args.ack(response).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not ack a socket mode envelope'));
    };
    const guard = setTimeout(() => void ack(), deadlineMs);
    try {
      await app.processEvent({
        body: args.body,
        ack: async (r?: unknown) => {
          response = r;
        },
        ...(args.retry_num !== undefined ? { retryNum: args.retry_num } : {}),
        ...(args.retry_reason ? { retryReason: args.retry_reason } : {}),
        customProperties: { slackAcked: () => acked },
      });
      await ack();
    } catch (err) {
      logger.error({ err, retryNum: args.retry_num ?? 0 }, 'handling a socket mode envelope failed; leaving it unacked so Slack redelivers it');
    } finally {
      clearTimeout(guard);
    }
  });
}

export interface SlackServiceDeps {
  config: SlackConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
}

export interface SlackService {
  /** Mount on any express app: `POST /webhooks/slack` (HTTP mode) and the loopback-only pairing endpoint. */
  router: ExpressRouter;
  /** `http` (Events API webhooks) or `socket` (Socket Mode, SLACK_APP_TOKEN set). */
  mode: 'http' | 'socket';
  /** The workspace and bot user once auth.test answered. */
  identity(): SlackIdentity | undefined;
  /** Redis, auth.test (and in Socket Mode the WebSocket); add to the app's /readyz. */
  readiness: Record<string, ReadinessCheck>;
  outbound: Worker;
  close(): Promise<void>;
}

/**
 * Starts the Slack channel (no HTTP listener of its own: see main.ts for standalone mode), or
 * returns undefined, after saying so, when no `SLACK_BOT_TOKEN` is configured. Events arrive on
 * `POST /webhooks/slack`, or over Socket Mode when `SLACK_APP_TOKEN` is set.
 */
export async function startSlackService(deps: SlackServiceDeps): Promise<SlackService | undefined> {
  const { config, logger } = deps;
  const token = config.SLACK_BOT_TOKEN;
  if (!token) {
    logger.info('SLACK_BOT_TOKEN is not set: the Slack channel is disabled');
    return undefined;
  }
  const mode = config.SLACK_APP_TOKEN ? 'socket' : 'http';
  if (mode === 'http' && !config.SLACK_SIGNING_SECRET) logger.warn('SLACK_SIGNING_SECRET is not set: POST /webhooks/slack refuses every delivery');
  const prefix = config.SWITCHBOARD_PREFIX;
  const bl = boltLogger(logger.child({ component: 'bolt' }));
  // The outbound worker paces and retries itself, so the client must surface 429s instead of
  // sleeping on them, and must not retry a post that may have gone through.
  const clientOptions = { slackApiUrl: config.SLACK_API_URL, rejectRateLimitedCalls: true, retryConfig: { retries: 0 }, timeout: 15_000, logger: bl };
  const client = new webApi.WebClient(token, clientOptions);
  const runtime = channelRuntime({ platform: 'slack', redisUrl: deps.redisUrl, prefix, registry: deps.registry, logger });
  const { redis, workerConnection, store, turns, ingress, hub, metrics, drafts } = runtime;

  let identity: SlackIdentity | undefined;
  let access: ChannelAccess | undefined;
  let authError: string | undefined = 'auth.test has not answered yet';
  let socketUp = false;

  const streamer =
    config.SLACK_DRAFT_EDIT_INTERVAL_MS > 0
      ? new ReplyStreamer({
          hub,
          redis,
          store,
          drafts,
          logger,
          editIntervalMs: config.SLACK_DRAFT_EDIT_INTERVAL_MS,
          maxDraftChars: SLACK_MESSAGE_LIMIT - 100,
          renderDraft: escapeMrkdwn,
          surface: {
            post: (target, text) => postMessage(client, target, text),
            edit: (target, ts, text) => updateMessage(client, target, ts, text),
            remove: (target, ts) => deleteMessage(client, target, ts),
            uneditable: isUneditable,
          },
        })
      : undefined;

  const receiver =
    mode === 'socket'
      ? new SocketModeReceiver({ appToken: config.SLACK_APP_TOKEN!, logger: bl, installerOptions: { clientOptions: { slackApiUrl: config.SLACK_API_URL } } })
      : new SlackHttpReceiver({
          signingSecret: config.SLACK_SIGNING_SECRET,
          isReady: () => identity !== undefined,
          ackDeadlineMs: config.SLACK_ACK_DEADLINE_MS,
          metrics,
          logger,
        });
  const app = new App({
    receiver,
    // One workspace, one bot token: the identity comes from our own auth.test (below), so Bolt
    // never calls it per event and never drops an event because it failed.
    authorize: async () => {
      if (!identity) throw new Error('the Slack bot is not identified yet');
      return { botToken: token, botUserId: identity.botUserId, ...(identity.botId ? { botId: identity.botId } : {}), teamId: identity.teamId };
    },
    clientOptions,
    logger: bl,
    // Our normalizer drops the bot's own (and every other bot's) messages and counts them.
    ignoreSelf: false,
    convoStore: false,
  });
  app.error(async (err) => {
    throw err;
  });
  registerListeners(app, {
    identity: () => identity!,
    access: () => access!,
    client,
    redis,
    prefix,
    ingress,
    board: new ApprovalBoard(redis, prefix),
    turns,
    metrics,
    logger,
    groupRequireMention: config.SLACK_GROUP_REQUIRE_MENTION,
    groupSessionPerUser: config.SLACK_GROUP_SESSION_PER_USER,
    files: slackFiles({
      token,
      apiUrl: config.SLACK_API_URL,
      store: new AttachmentStore(redis, prefix, { maxBytes: config.SLACK_ATTACHMENT_MAX_BYTES, ttlSeconds: config.SLACK_ATTACHMENT_TTL_SECONDS }),
      logger,
    }),
    ...(streamer ? { onAccepted: (m) => streamer.follow(m.sessionKey, { account: m.account, chatId: m.chatId, threadId: m.threadId }, m.id) } : {}),
  });

  // Pairing needs the workspace id (part of every key); until auth.test answers it is a 503.
  let pairing: ExpressRouter | undefined;
  const router = Router();
  if (receiver instanceof SlackHttpReceiver) router.use(receiver.router);
  router.use((req, res, next) => {
    if (pairing) return pairing(req, res, next);
    if (!req.path.startsWith('/admin/slack/')) return next();
    writeError(res, 503, 'not_ready', 'the Slack connection is not identified yet');
  });

  let socketTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const startSocket = async (attempt: number): Promise<void> => {
    try {
      await app.start();
    } catch (err) {
      if (closed) return;
      logger.warn({ err: (err as Error).message, attempt }, 'slack socket mode could not connect; retrying');
      socketTimer = setTimeout(() => void startSocket(attempt + 1), Math.min(30_000, 500 * 2 ** attempt));
      socketTimer.unref();
    }
  };

  const onIdentified = (id: SlackIdentity) => {
    identity = id;
    access = new ChannelAccess({
      redis,
      prefix,
      platform: 'slack',
      account: id.teamId,
      policy: config.SLACK_DM_POLICY,
      groupPolicy: config.SLACK_GROUP_POLICY,
      allowFrom: config.SLACK_ALLOW_FROM,
      pairingTtlSeconds: config.SLACK_PAIRING_TTL_SECONDS,
    });
    pairing = pairingRouter({
      platform: 'slack',
      access,
      logger,
      notify: async (paired) => {
        await client.chat.postMessage({ channel: paired.chatId, text: 'You are approved. Send your message again.' });
      },
    });
    logger.info({ teamId: id.teamId, botUserId: id.botUserId, mode, dmPolicy: config.SLACK_DM_POLICY }, 'slack bot identified');
    if (receiver instanceof SocketModeReceiver) {
      deferSocketAcks(receiver, app, config.SLACK_ACK_DEADLINE_MS, logger);
      receiver.client.on('connected', () => {
        socketUp = true;
      });
      receiver.client.on('disconnected', () => {
        socketUp = false;
      });
      void startSocket(0);
    }
  };

  // auth.test gives the workspace and the bot user that mentions name; until it answers, /readyz
  // says why and it is retried with backoff.
  let authTimer: NodeJS.Timeout | undefined;
  const authTest = async (attempt: number): Promise<void> => {
    try {
      const r = await client.auth.test();
      if (!r.team_id || !r.user_id) throw new Error('auth.test answered without team_id/user_id (is this a bot token?)');
      authError = undefined;
      onIdentified({ teamId: r.team_id, botUserId: r.user_id, botId: r.bot_id });
    } catch (err) {
      if (closed) return;
      authError = `auth.test failed: ${(err as Error).message}`;
      logger.warn({ err: (err as Error).message, attempt }, 'slack auth.test failed; retrying');
      authTimer = setTimeout(() => void authTest(attempt + 1), Math.min(30_000, 500 * 2 ** attempt));
      authTimer.unref();
    }
  };
  await authTest(0);

  // Order per channel and thread, about 1/s per channel, Retry-After waits, approval buttons.
  const outbound = createChannelOutboundWorker({
    platform: 'slack',
    sender: slackSender(client),
    connection: workerConnection,
    prefix,
    logger,
    metrics,
    concurrency: config.SLACK_OUTBOUND_CONCURRENCY,
    chatIntervalMs: config.SLACK_CHAT_INTERVAL_MS,
    globalRatePerSecond: config.SLACK_GLOBAL_RATE_PER_SECOND,
    drafts,
  });
  logger.info({ mode }, 'slack channel started');
  return {
    router,
    mode,
    identity: () => identity,
    outbound,
    readiness: {
      redis: async () => {
        await runtime.ping();
      },
      slack: async () => {
        if (authError) throw new Error(authError);
        if (mode === 'socket' && !socketUp) throw new Error('the Socket Mode connection is not up');
      },
    },
    async close() {
      closed = true;
      clearTimeout(authTimer);
      clearTimeout(socketTimer);
      streamer?.close();
      if (mode === 'socket' && identity) await app.stop().catch((err: unknown) => logger.warn({ err }, 'stopping socket mode failed'));
      await outbound.close();
      await runtime.close();
    },
  };
}
