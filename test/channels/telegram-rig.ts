/**
 * The Telegram test rig: the real one-process core (agent worker, tool runner, web) plus the
 * Telegram service started in-process against the same Redis and prefix, talking through grammY to
 * the fake Bot API. Used by the contract suite and the Telegram end-to-end tests.
 */
import type { Server } from 'node:http';
import express from 'express';
import { inject } from 'vitest';
import { countTokens } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import { loadTelegramConfig, startTelegramService, type TelegramService } from '@switchboard/telegram';
import { startFakeTelegram, type FakeScript, type FakeTelegram } from '@switchboard/testkit';
import type { Registry } from 'prom-client';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

export const TOKEN = '777001:test-secret-token';
export const SECRET = 'hook-secret';
export const BOT = { id: 777001, is_bot: true, first_name: 'Switchboard', username: 'switchboard_test_bot' };
export const GROUP_ID = -100200;

/** One running Telegram service instance (a replica) with its own HTTP listener. */
export interface TelegramInstance {
  service: TelegramService;
  registry: Registry;
  url: string;
  close(): Promise<void>;
}

export interface TelegramRig {
  t: TestSystem;
  tg: FakeTelegram;
  /** The current service instance (replaced by `restart`). */
  current: TelegramInstance;
  /** Delivers an update to the current instance's webhook (`secret: null` sends no header). */
  post(update: unknown, secret?: string | null): Promise<Response>;
  /** Stops the current instance (it is gone until `startInstance`). */
  stopInstance(): Promise<void>;
  /** Starts a new instance against the same Redis, prefix and fake, with the rig's environment (plus `env`). */
  startInstance(env?: Record<string, string>): Promise<TelegramInstance>;
  close(): Promise<void>;
}

export interface TelegramRigOptions {
  /** Environment for the core and the Telegram service. */
  env?: Record<string, string>;
  /** Environment for the Telegram service only. */
  serviceEnv?: Record<string, string>;
  script?: FakeScript;
}

export async function startTelegramRig(opts: TelegramRigOptions = {}): Promise<TelegramRig> {
  const env = opts.env ?? {};
  // The tokenizer loads synchronously on first use (seconds on a busy machine); loading it here keeps
  // that stall out of the first turn, where it would outlast the test's short turn lease.
  countTokens('warm up');
  const t = await startTestSystem({ env: { QUEUED_PLATFORMS: 'telegram', ...env } });
  if (opts.script) t.model.setScript(opts.script);
  const tg = await startFakeTelegram({ token: TOKEN, username: BOT.username });
  const instances = new Set<TelegramInstance>();

  async function startInstance(extra: Record<string, string> = {}): Promise<TelegramInstance> {
    const registry = createRegistry({ defaultMetrics: false });
    const config = loadTelegramConfig({
      REDIS_URL: inject('redisUrl'),
      SWITCHBOARD_PREFIX: t.prefix,
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      TELEGRAM_CHAT_INTERVAL_MS: '50',
      TELEGRAM_DRAFT_INTERVAL_MS: '100',
      TELEGRAM_DM_POLICY: 'open',
      ...env,
      ...opts.serviceEnv,
      ...extra,
    });
    const logger = createLogger({ service: 'telegram', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const service = (await startTelegramService({ config, logger, registry, redisUrl: inject('redisUrl') }))!;
    const app = express();
    app.use(service.router);
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    const instance: TelegramInstance = {
      service,
      registry,
      url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      async close() {
        instances.delete(instance);
        server.closeAllConnections();
        await new Promise((resolve) => server.close(() => resolve(undefined)));
        await service.close();
      },
    };
    instances.add(instance);
    rig.current = instance;
    return instance;
  }

  const rig: TelegramRig = {
    t,
    tg,
    current: undefined as unknown as TelegramInstance,
    post: (update, secret = SECRET) =>
      postJson(rig.current.url, '/webhooks/telegram', update, secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }),
    stopInstance: () => rig.current.close(),
    startInstance,
    async close() {
      for (const i of [...instances]) await i.close();
      await t.stop();
      await tg.close();
    },
  };
  try {
    await startInstance();
  } catch (err) {
    await rig.close();
    throw err;
  }
  return rig;
}

let nextUpdateId = 5000;
let nextMessageId = 1;
const user = (id: number) => ({ id, is_bot: false, first_name: `u${id}`, username: `user${id}` });

/** The next update id (unique within this test process). */
export const updateId = () => nextUpdateId++;

/** A private-chat message update, shaped like the Bot API's documented examples. */
export function dmUpdate(userId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdateId++,
    message: { message_id: nextMessageId++, date: 1_700_000_000, chat: { id: userId, type: 'private', first_name: `u${userId}` }, from: user(userId), text, ...extra },
  };
}

/** A supergroup message update. */
export function groupUpdate(userId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdateId++,
    message: { message_id: nextMessageId++, date: 1_700_000_000, chat: { id: GROUP_ID, type: 'supergroup', title: 'team' }, from: user(userId), text, ...extra },
  };
}

/** Text and entities of a message that @mentions the bot. */
export const mention = (text: string) => ({ entities: [{ type: 'mention', offset: 0, length: BOT.username.length + 1 }], text: `@${BOT.username} ${text}` });

/** A press of an inline button under a bot message. */
export function pressUpdate(userId: number, chat: { id: number; type: string }, messageId: number, data: string) {
  return {
    update_id: nextUpdateId++,
    callback_query: { id: `cq${nextUpdateId}`, from: user(userId), chat_instance: '42', message: { message_id: messageId, date: 1_700_000_000, chat }, data },
  };
}

/** The loopback pairing approval of the current instance. */
export async function approvePairing(rig: TelegramRig, code: string): Promise<number> {
  return (await postJson(rig.current.url, `/admin/telegram/pairings/${code}/approve`, {})).status;
}
