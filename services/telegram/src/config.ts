import { z } from 'zod';
import { dmPolicyEnv, envBool as bool, groupPolicyEnv } from '@switchboard/channels';
import { CommonEnv, csv, int, optionalString, parseEnv, urlString, type Env } from '@switchboard/config';

export const TelegramEnv = CommonEnv.extend({
  /** Bot token from @BotFather. Without it the service is disabled. Its numeric prefix is the bot id. */
  TELEGRAM_BOT_TOKEN: optionalString.pipe(z.string().regex(/^\d+:[A-Za-z0-9_-]+$/, 'must look like <bot id>:<secret>').optional()),
  /** Bot API root (grammY `client.apiRoot`); point it at a test double or a local Bot API server. */
  TELEGRAM_API_ROOT: urlString(['http:', 'https:']).transform((v) => v ?? 'https://api.telegram.org'),
  /** Secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`; webhooks are refused while unset. */
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 of A-Z a-z 0-9 _ -').optional()),
  /** Public HTTPS URL of `POST /webhooks/telegram`; when set, the service calls setWebhook at start. */
  TELEGRAM_WEBHOOK_URL: urlString(['https:']),
  TELEGRAM_DM_POLICY: dmPolicyEnv,
  TELEGRAM_GROUP_POLICY: groupPolicyEnv,
  /** Telegram user ids always allowed in private chats (and to press approval buttons). */
  TELEGRAM_ALLOW_FROM: csv.pipe(z.array(z.string().regex(/^\d+$/, 'user ids are numbers'))),
  /** In groups, answer only messages that mention the bot or reply to it (default true). */
  TELEGRAM_GROUP_REQUIRE_MENTION: bool(true),
  /** In groups, one session per user instead of one per chat (forum topics stay separate either way). */
  TELEGRAM_GROUP_SESSION_PER_USER: bool(false),
  /**
   * `webhook` (Telegram POSTs to `/webhooks/telegram`; any number of replicas) or `polling`
   * (getUpdates long polling; exactly one active poller per bot, guarded by a Redis lease). Default:
   * `webhook` when TELEGRAM_WEBHOOK_SECRET or TELEGRAM_WEBHOOK_URL is set, else `polling`.
   */
  TELEGRAM_MODE: z.enum(['webhook', 'polling']).optional(),
  /** getUpdates long-poll timeout in seconds (polling mode). */
  TELEGRAM_POLL_TIMEOUT_SECONDS: int(30, { min: 0, max: 50 }),
  /** Lease of the one active poller per bot, in ms: a standby replica takes over this long after the poller died. */
  TELEGRAM_POLL_LEASE_MS: int(30_000, { min: 1000 }),
  /** Smallest gap between two edits of a streamed draft, in ms (about 1/s per chat); 0 turns streaming off. */
  TELEGRAM_DRAFT_INTERVAL_MS: int(1000, { min: 0 }),
  /** The same per group chat, where Telegram allows about 20 messages a minute (default 3000). */
  TELEGRAM_GROUP_DRAFT_INTERVAL_MS: int(3000, { min: 0 }),
  /** How often "typing…" is refreshed while a turn runs, in ms (Telegram shows it for 5 s); 0 turns it off. */
  TELEGRAM_TYPING_INTERVAL_MS: int(4000, { min: 0 }),
  /** Largest photo, document or voice message downloaded for the model, in bytes (Bot API getFile allows 20 MB). */
  TELEGRAM_ATTACHMENT_MAX_BYTES: int(20 * 1024 * 1024, { min: 1024, max: 20 * 1024 * 1024 }),
  /** How long downloaded attachments are kept for the agent, in seconds (default 1 day). */
  TELEGRAM_ATTACHMENT_TTL_SECONDS: int(24 * 3600, { min: 60 }),
  /** How long a pairing code stays valid, in seconds (default 1 h). */
  TELEGRAM_PAIRING_TTL_SECONDS: int(3600, { min: 60 }),
  /** Smallest gap between two messages to one chat, in ms (Telegram asks for about 1 s). */
  TELEGRAM_CHAT_INTERVAL_MS: int(1000, { min: 0 }),
  /** Messages per second the bot sends overall (Telegram allows about 30). */
  TELEGRAM_GLOBAL_RATE_PER_SECOND: int(30, { min: 1 }),
  /** Outbound jobs one process sends at once (different chats; one chat is always sequential). */
  TELEGRAM_OUTBOUND_CONCURRENCY: int(8, { min: 1, max: 256 }),
  /** Port of the standalone service (webhook, admin and ops routes). */
  PORT: int(9201, { min: 0, max: 65535 }),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
});
export type TelegramConfig = z.infer<typeof TelegramEnv>;

export function loadTelegramConfig(env: Env = process.env): TelegramConfig {
  return parseEnv(TelegramEnv, env);
}

/** How updates arrive: TELEGRAM_MODE, else webhook when a webhook secret or URL is configured, else long polling. */
export function telegramMode(config: TelegramConfig): 'webhook' | 'polling' {
  return config.TELEGRAM_MODE ?? (config.TELEGRAM_WEBHOOK_SECRET || config.TELEGRAM_WEBHOOK_URL ? 'webhook' : 'polling');
}

/** The bot id is the token's numeric prefix: known without a network call. */
export function botIdOf(token: string): string {
  return token.split(':')[0]!;
}
