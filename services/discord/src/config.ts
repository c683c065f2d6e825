import { z } from 'zod';
import { dmPolicyEnv, envBool as bool, groupPolicyEnv } from '@switchboard/channels';
import { CommonEnv, csv, int, optionalString, parseEnv, urlString, type Env } from '@switchboard/config';

const optionalInt = (opts: { min: number; max?: number }) =>
  z.preprocess((v) => (v === undefined || v === '' ? undefined : v), z.coerce.number().int().min(opts.min).max(opts.max ?? Number.MAX_SAFE_INTEGER).optional());

export const DiscordEnv = CommonEnv.extend({
  /** Bot token from the Developer Portal. Without it the service is disabled. Its first part encodes the bot's user id. */
  DISCORD_BOT_TOKEN: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_=-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must look like <base64 user id>.<timestamp>.<hmac>')
      .refine((t) => botIdOf(t) !== undefined, 'its first part must encode the bot user id')
      .optional(),
  ),
  /** REST API base (discord.js `rest.api`, without the version); point it at a test double or a proxy. */
  DISCORD_API_URL: urlString(['http:', 'https:']).transform((v) => v ?? 'https://discord.com/api'),
  DISCORD_DM_POLICY: dmPolicyEnv,
  DISCORD_GROUP_POLICY: groupPolicyEnv,
  /** Discord user ids always allowed in DMs (and to press approval buttons in servers). */
  DISCORD_ALLOW_FROM: csv.pipe(z.array(z.string().regex(/^\d{1,20}$/, 'user ids are numbers (snowflakes)'))),
  /** In servers, answer only messages that mention the bot or reply to it (default true). */
  DISCORD_GROUP_REQUIRE_MENTION: bool(true),
  /** In servers, one session per user and channel instead of one per channel (default false). */
  DISCORD_GROUP_SESSION_PER_USER: bool(false),
  /** How long a pairing code stays valid, in seconds (default 1 h). */
  DISCORD_PAIRING_TTL_SECONDS: int(3600, { min: 60 }),
  /** Smallest gap between two messages to one channel, in ms (Discord's channel bucket is about 5 per 5 s). */
  DISCORD_CHAT_INTERVAL_MS: int(250, { min: 0 }),
  /** Requests per second overall (Discord's global limit is 50); the REST client and the outbound worker both keep it. */
  DISCORD_GLOBAL_RATE_PER_SECOND: int(50, { min: 1, max: 50 }),
  /** Outbound jobs one process sends at once (different channels; one channel is always sequential). */
  DISCORD_OUTBOUND_CONCURRENCY: int(8, { min: 1, max: 256 }),
  /** Smallest gap between two edits of a streamed draft, in ms; 0 turns streaming off (default 1000). */
  DISCORD_EDIT_INTERVAL_MS: int(1000, { min: 0 }),
  /** One REST request's timeout, in ms (default 15 s). */
  DISCORD_REST_TIMEOUT_MS: int(15_000, { min: 100 }),
  /** Retries of one REST request after a 5xx, a reset or a timeout (429s are always waited out and retried). */
  DISCORD_REST_RETRIES: int(3, { min: 0, max: 10 }),
  /** This process's shard (0-based); with DISCORD_SHARD_COUNT. Unset: discord.js runs the recommended shards itself. */
  DISCORD_SHARD_ID: optionalInt({ min: 0, max: 10_000 }),
  /** Total shards across all processes (one gateway connection each). */
  DISCORD_SHARD_COUNT: optionalInt({ min: 1, max: 10_000 }),
  /** Largest attachment downloaded into the AttachmentStore, in bytes (default 20 MB); a larger one becomes a note. */
  DISCORD_ATTACHMENT_MAX_BYTES: int(20 * 1024 * 1024, { min: 1024, max: 100 * 1024 * 1024 }),
  /** How long a downloaded attachment is kept for the agent worker, in seconds (default 1 day). */
  DISCORD_ATTACHMENT_TTL_SECONDS: int(24 * 3600, { min: 60 }),
  /** Longest wait for one attachment download, in ms (default 30 s; the channel's next messages wait behind it). */
  DISCORD_ATTACHMENT_TIMEOUT_MS: int(30_000, { min: 100, max: 300_000 }),
  /**
   * After a fresh gateway session (a restart), fetch the messages missed in the channels active
   * within this many hours (default 24; 0 turns the catch-up off).
   */
  DISCORD_CATCHUP_WINDOW_HOURS: int(24, { min: 0, max: 24 * 14 }),
  /** Channels tracked and caught up at most, most recently active first (default 200). */
  DISCORD_CATCHUP_MAX_CHANNELS: int(200, { min: 1, max: 10_000 }),
  /** Missed messages fetched per channel at most, oldest first (default 200). */
  DISCORD_CATCHUP_MAX_MESSAGES: int(200, { min: 1, max: 5_000 }),
  /** Port of the standalone service (ops and admin routes; Discord itself talks over the gateway). */
  PORT: int(9203, { min: 0, max: 65535 }),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
}).superRefine((c, ctx) => {
  if ((c.DISCORD_SHARD_ID === undefined) !== (c.DISCORD_SHARD_COUNT === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['DISCORD_SHARD_ID'], message: 'set DISCORD_SHARD_ID and DISCORD_SHARD_COUNT together' });
  } else if (c.DISCORD_SHARD_ID !== undefined && c.DISCORD_SHARD_ID >= c.DISCORD_SHARD_COUNT!) {
    ctx.addIssue({ code: 'custom', path: ['DISCORD_SHARD_ID'], message: 'must be below DISCORD_SHARD_COUNT' });
  }
});
export type DiscordConfig = z.infer<typeof DiscordEnv>;

export function loadDiscordConfig(env: Env = process.env): DiscordConfig {
  return parseEnv(DiscordEnv, env);
}

/** The bot's user id, read from the token's first part (base64 of the id): known without a network call. */
export function botIdOf(token: string): string | undefined {
  const first = token.split('.')[0] ?? '';
  const id = Buffer.from(first, 'base64').toString('utf8');
  return /^\d{1,20}$/.test(id) ? id : undefined;
}
