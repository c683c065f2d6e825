import { randomUUID } from 'node:crypto';
import { createRunner, createSequentialSink, createSource, createUpdateFetcher, type RunnerHandle } from '@grammyjs/runner';
import type { Api } from 'grammy';
import type { Redis } from 'ioredis';
import type { Logger } from '@switchboard/observability';
import { TgUpdate } from './update.ts';

export interface TelegramPollerOptions {
  api: Api;
  redis: Redis;
  prefix: string;
  botId: string;
  logger: Logger;
  /** getUpdates long-poll timeout, in seconds. */
  timeoutSeconds: number;
  /** The same path webhooks take; must throw when the update could not be put on its lane. */
  handle(update: TgUpdate): Promise<void>;
  /** Counts an update that is not a valid Telegram update (it is skipped). */
  onRejected(updateId: unknown, reason: string): void;
  /** Counts an update skipped after `giveUpAfterMs` of failed handling. */
  onFailed?(updateId: number): void;
  /** How long the poller lease lasts without renewal, in ms (default 30 s). */
  leaseMs?: number;
  /** First wait before handling a failed update again, in ms (default 250; doubles up to 10 s). */
  retryBaseMs?: number;
  /** Pause after getUpdates failed for good (409, 401), in ms (default 1000; doubles while it keeps failing, up to 60 s). */
  failurePauseMs?: number;
  /** How long one update is retried before it is skipped (logged, `onFailed`), so one poison update cannot stall the bot (default 10 min). */
  giveUpAfterMs?: number;
}

export interface TelegramPoller {
  /** Undefined while this replica polls (or stands by behind the one that does); else why not. */
  problem(): string | undefined;
  /** Whether this replica holds the lease and polls right now. */
  active(): boolean;
  stop(): Promise<void>;
}

const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query'] as const;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Long polling with @grammyjs/runner, for bots without a public webhook URL.
 *
 * - One poller per bot: Telegram allows a single getUpdates consumer, so replicas take a lease in
 *   Redis and only its holder polls; the others stand by and take over within `leaseMs` when it
 *   goes away. Still deploy one replica (see k8s/overlays/telegram-polling).
 * - The webhook is deleted first (getUpdates answers 409 while one is set).
 * - At least once: updates are handled one after another and the next getUpdates, whose `offset`
 *   confirms everything before it to Telegram, is sent only after the whole batch was handled. An
 *   update whose handling fails is retried (with backoff) before anything after it; a crash in
 *   between means Telegram delivers it again, and update_id dedupe keeps it once. One at a time
 *   also keeps each chat's messages in order. Only an update that keeps failing for
 *   `giveUpAfterMs` (a poison update, not an outage shorter than that) is skipped.
 */
export function startTelegramPoller(opts: TelegramPollerOptions): TelegramPoller {
  const log = opts.logger.child({ mode: 'polling' });
  const key = `${opts.prefix}:ch:telegram:${opts.botId}:poller`;
  const me = randomUUID();
  const leaseMs = opts.leaseMs ?? 30_000;
  let stopping = false;
  let runner: RunnerHandle | undefined;
  let holding = false;
  let problem: string | undefined = 'starting';
  let wake: (() => void) | undefined;
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function consume(raw: unknown): Promise<void> {
    const parsed = TgUpdate.safeParse(raw);
    if (!parsed.success) {
      opts.onRejected((raw as { update_id?: unknown } | undefined)?.update_id, parsed.error.message);
      return;
    }
    const since = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await opts.handle(parsed.data);
        return;
      } catch (err) {
        // Not confirmed to Telegram yet: stopping now means the next poller gets it again.
        if (stopping || !holding) throw err;
        if (Date.now() - since > (opts.giveUpAfterMs ?? 600_000)) {
          log.error({ err, updateId: parsed.data.update_id, attempt }, 'giving up on a polled telegram update that kept failing; skipping it');
          opts.onFailed?.(parsed.data.update_id);
          return;
        }
        const waitMs = Math.min(10_000, (opts.retryBaseMs ?? 250) * 2 ** attempt);
        log.error({ err, updateId: parsed.data.update_id, attempt, waitMs }, 'handling a polled telegram update failed; retrying it');
        await sleep(waitMs);
      }
    }
  }

  function startRunner(): RunnerHandle {
    const fetchUpdates = createUpdateFetcher(
      {
        api: { getUpdates: (args, signal) => opts.api.getUpdates({ ...args, allowed_updates: [...ALLOWED_UPDATES] }, signal) },
        handleUpdate: consume,
        errorHandler: () => undefined,
      },
      { fetch: { timeout: opts.timeoutSeconds }, retryInterval: 'exponential', maxRetryTime: 60_000, silent: true },
    );
    const source = createSource({ supply: fetchUpdates });
    const sink = createSequentialSink({ consume }, async (err) => {
      log.error({ err }, 'a polled telegram update was not handled');
    });
    const handle = createRunner(source, sink);
    handle.start();
    return handle;
  }

  /** Runs of getUpdates that failed in a row (a 409 from another consumer, a 401), and until when to wait. */
  let failures = 0;
  let pauseUntil = 0;
  async function loop(): Promise<void> {
    while (!stopping) {
      if (!holding) {
        if (Date.now() < pauseUntil) {
          await nap(pauseUntil - Date.now());
          continue;
        }
        holding = (await opts.redis.set(key, me, 'PX', leaseMs, 'NX').catch(() => null)) === 'OK';
        if (!holding) {
          problem = undefined; // standing by behind the active poller is a healthy state
          await nap(Math.max(100, leaseMs / 3));
          continue;
        }
        try {
          await opts.api.deleteWebhook({ drop_pending_updates: false });
        } catch (err) {
          problem = `deleteWebhook failed: ${(err as Error).message}`;
          log.warn({ err: (err as Error).message }, 'telegram deleteWebhook failed; retrying');
          await opts.redis.eval(RELEASE, 1, key, me).catch(() => undefined);
          holding = false;
          await nap(2000);
          continue;
        }
        log.info({ timeoutSeconds: opts.timeoutSeconds }, 'telegram long polling started');
        problem = undefined;
        runner = startRunner();
        const startedAt = Date.now();
        const task = runner.task();
        void task?.catch((err: unknown) => {
          // 401 (bad token) or 409 (another getUpdates consumer or a webhook): give the lease back and
          // try again after a pause that grows while it keeps failing (1 s, 2 s ... 60 s), instead
          // of at once: that would call deleteWebhook and getUpdates in a tight loop.
          failures = Date.now() - startedAt > 60_000 ? 1 : failures + 1;
          const pauseMs = Math.min(60_000, (opts.failurePauseMs ?? 1000) * 2 ** (failures - 1));
          pauseUntil = Date.now() + pauseMs;
          problem = `getUpdates failed: ${(err as Error).message}`;
          log.error({ err: (err as Error).message, failures, pauseMs }, 'telegram long polling stopped; trying again after a pause');
          holding = false;
          runner = undefined;
          void opts.redis.eval(RELEASE, 1, key, me).catch(() => undefined);
          wake?.();
        });
      }
      await nap(Math.max(100, leaseMs / 3));
      if (stopping || !holding) continue;
      const renewed = await opts.redis.eval(RENEW, 1, key, me, String(leaseMs)).catch(() => 0);
      if (renewed !== 1) {
        // Lost the lease (Redis unreachable for longer than leaseMs): someone else may poll now.
        log.warn('telegram poller lease lost; stopping long polling');
        holding = false;
        const r = runner;
        runner = undefined;
        await r?.stop().catch(() => undefined);
      }
    }
  }
  const looping = loop().catch((err: unknown) => log.error({ err }, 'telegram poller loop failed'));

  return {
    problem: () => problem,
    active: () => holding && runner !== undefined,
    async stop() {
      stopping = true;
      wake?.();
      const r = runner;
      runner = undefined;
      await r?.stop().catch(() => undefined);
      await looping;
      if (holding) await opts.redis.eval(RELEASE, 1, key, me).catch(() => undefined);
      holding = false;
    },
  };
}
