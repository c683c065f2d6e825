import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Env } from '@switchboard/config';
import { createAgentWorker, loadAgentWorkerConfig, type AgentWorkerService } from '@switchboard/agent-worker';
import { createRedis, startRedisServer, type PrivateRedis } from '@switchboard/lanes';
import { createLogger, createRegistry, type Logger } from '@switchboard/observability';
import type { Db, Queryable } from '@switchboard/store';
import { createToolRunner, loadToolRunnerConfig, type ToolRunnerService } from '@switchboard/tool-runner';
import type { ToolPlugin } from '@switchboard/tools';
import type { TelegramService } from '@switchboard/telegram';
import type { DiscordService } from '@switchboard/discord';
import type { SlackService } from '@switchboard/slack';
import { loadWebConfig, startWebService, type WebService } from '@switchboard/web';
import type { WhatsAppService } from '@switchboard/whatsapp';
import { loadAllInOneConfig } from './config.ts';
import { openSystemDatabase } from './database.ts';

export interface System {
  url: string;
  logger: Logger;
  /** The system's database (for operator tooling and tests). */
  db: Db;
  close(): Promise<void>;
}

/**
 * The whole system in one process: Redis from REDIS_URL or a private redis-server, Postgres from
 * DATABASE_URL or embedded PGlite under DATA_DIR, then the tool runner, the agent worker and the
 * web service sharing one metrics registry.
 */
export async function startSystem(
  env: Env,
  opts: {
    logger?: Logger;
    toolPlugins?: readonly ToolPlugin[];
    /** The database, already being opened (by `main.ts`, in parallel with importing the services); closed by `close()`. */
    database?: Promise<Db>;
  } = {},
): Promise<System> {
  const config = loadAllInOneConfig(env);
  const logger = opts.logger ?? createLogger({ service: 'switchboard', level: config.LOG_LEVEL });
  const registry = createRegistry();
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });

  let redis: PrivateRedis | undefined;
  const stopRedisAtExit = () => {
    if (redis && redis.process.exitCode === null) redis.process.kill('SIGTERM');
  };
  let redisUrl = config.REDIS_URL;
  if (!redisUrl) {
    try {
      await mkdir(join(dataDir, 'redis'), { recursive: true });
      redis = await startRedisServer({ dir: join(dataDir, 'redis'), appendOnly: true });
      redisUrl = redis.url;
      // Whatever way the process ends (a shutdown past its deadline, a second signal, a crash),
      // the private redis-server does not outlive it.
      process.on('exit', stopRedisAtExit);
      logger.info({ url: redisUrl, dir: redis.dir }, 'started a private redis-server');
    } catch (err) {
      throw new Error(`no Redis: REDIS_URL is not set and a private redis-server could not be started (${(err as Error).message})`, { cause: err });
    }
  } else {
    // As for DATABASE_URL: a Redis that does not answer stops the start with a clear message
    // instead of leaving every service waiting on it (and not listening) for ever.
    await reachRedis(redisUrl, REDIS_CONNECT_TIMEOUT_MS, logger);
  }
  const serviceEnv: Env = { ...env, REDIS_URL: redisUrl };

  let db: Db | undefined;
  let opened: Db;
  let toolRunner: ToolRunnerService | undefined;
  let agent: AgentWorkerService | undefined;
  let web: WebService | undefined;
  let telegram: TelegramService | undefined;
  let whatsapp: WhatsAppService | undefined;
  let discord: DiscordService | undefined;
  let slack: SlackService | undefined;
  const close = async () => {
    await web?.close();
    await telegram?.close();
    await whatsapp?.close();
    await discord?.close();
    await slack?.close();
    await agent?.close();
    await toolRunner?.close();
    await db?.close();
    await redis?.stop();
    process.off('exit', stopRedisAtExit);
  };
  const opening = opts.database ?? openSystemDatabase(config, logger);
  opening.catch(() => undefined); // awaited below, after the services are wired
  try {
    // The services wire themselves (Redis, queues, the sandbox self-check) while the database is
    // still starting; their queries wait for it, and the web service is ready only once it answers.
    const database = whenOpen(opening, config.DATABASE_URL ? 'pg' : 'pglite');
    db = database;
    toolRunner = await createToolRunner({
      config: loadToolRunnerConfig(serviceEnv),
      logger: logger.child({ service: 'tool-runner' }),
      registry,
      redisUrl,
      db: database,
      ...(opts.toolPlugins ? { extraPlugins: opts.toolPlugins } : {}),
    });
    agent = await createAgentWorker({ config: loadAgentWorkerConfig(serviceEnv), logger: logger.child({ service: 'agent-worker' }), registry, db: database, redisUrl });
    const webConfig = loadWebConfig({ ...serviceEnv, PORT: String(config.PORT) });
    // Channel services mount their webhooks on the web service's port; each is off without its token.
    // grammY is loaded only when a Telegram bot token is configured.
    if (serviceEnv.TELEGRAM_BOT_TOKEN) {
      const { loadTelegramConfig, startTelegramService } = await import('@switchboard/telegram');
      telegram = await startTelegramService({ config: loadTelegramConfig(serviceEnv), logger: logger.child({ service: 'telegram' }), registry, redisUrl });
    }
    // The WhatsApp service is loaded only when an access token is configured.
    if (serviceEnv.WHATSAPP_ACCESS_TOKEN) {
      const { loadWhatsAppConfig, startWhatsAppService } = await import('@switchboard/whatsapp');
      whatsapp = await startWhatsAppService({ config: loadWhatsAppConfig(serviceEnv), logger: logger.child({ service: 'whatsapp' }), registry, redisUrl });
    }
    // discord.js is loaded only when a Discord token is configured.
    if (serviceEnv.DISCORD_BOT_TOKEN) {
      const { loadDiscordConfig, startDiscordService } = await import('@switchboard/discord');
      discord = await startDiscordService({ config: loadDiscordConfig(serviceEnv), logger: logger.child({ service: 'discord' }), registry, redisUrl });
    }
    // Bolt is loaded only when a Slack bot token is configured.
    if (serviceEnv.SLACK_BOT_TOKEN) {
      const { loadSlackConfig, startSlackService } = await import('@switchboard/slack');
      slack = await startSlackService({ config: loadSlackConfig(serviceEnv), logger: logger.child({ service: 'slack' }), registry, redisUrl });
    }
    web = await startWebService({
      config: webConfig,
      logger: logger.child({ service: 'web' }),
      registry,
      redisUrl,
      db: database,
      readiness: { database: () => database.ping(), ...(telegram ? { telegram: telegram.readiness.telegram! } : {}), ...(discord ? { discord: discord.readiness.discord! } : {}), ...(whatsapp ? { whatsapp: whatsapp.readiness.whatsapp! } : {}), ...(slack ? { slack: slack.readiness.slack! } : {}) },
      extraRouters: [...(telegram ? [telegram.router] : []), ...(discord ? [discord.router] : []), ...(whatsapp ? [whatsapp.router] : []), ...(slack ? [slack.router] : [])],
    });
    opened = await opening;
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  logger.info({ url: web.url, model: agent.llm?.model ?? null, database: config.DATABASE_URL ? 'postgres' : 'embedded pglite', dataDir }, `Switchboard is running at ${web.url}`);
  return { url: web.url, logger, db: opened, close };
}

/** A {@link Db} whose calls wait for the database being opened. */
function whenOpen(opening: Promise<Db>, kind: Db['kind']): Db {
  return {
    kind,
    query: async <R>(sql: string, params?: unknown[]) => (await opening).query<R>(sql, params),
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) => (await opening).transaction<T>(fn),
    ping: async () => (await opening).ping(),
    close: async () => (await opening).close(),
  };
}

/** How long the start waits for REDIS_URL to answer (the database's wait is as long). */
const REDIS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Resolves once Redis at `url` is ready; rejects after `timeoutMs` with the last connection error
 * (ioredis' messages name the host and port, never the URL's password).
 */
async function reachRedis(url: string, timeoutMs: number, logger: Logger): Promise<void> {
  const client = createRedis(url, 'switchboard-start-check');
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    if (lastError?.message !== err.message) logger.info({ err: err.message }, 'Redis not reachable yet');
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis at REDIS_URL is unreachable: ${lastError?.message ?? `not ready after ${timeoutMs} ms`}`)), timeoutMs);
      client.once('ready', () => resolve());
    });
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
