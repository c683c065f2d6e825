import { z } from 'zod';
import { dmPolicyEnv } from '@switchboard/channels';
import { CommonEnv, csv, int, optionalString, parseEnv, urlString, type Env } from '@switchboard/config';

/** Graph API ids (phone numbers, WABAs, apps) are decimal strings. */
const graphId = z.string().regex(/^\d{1,32}$/, 'must be a numeric Graph API id');

export const WhatsAppEnv = CommonEnv.extend({
  /** System-user (or app) access token for the Cloud API. Without it the service is disabled. */
  WHATSAPP_ACCESS_TOKEN: optionalString,
  /** App secret: `X-Hub-Signature-256` is an HMAC-SHA256 of the raw body under it. Unset: every POST is refused. */
  WHATSAPP_APP_SECRET: optionalString,
  /** The token typed into the app dashboard; `GET /webhooks/whatsapp` echoes the challenge only for it. */
  WHATSAPP_VERIFY_TOKEN: optionalString,
  /** Graph API base, version included; point it at a test double or a proxy. */
  WHATSAPP_API_URL: urlString(['http:', 'https:']).transform((v) => (v ?? 'https://graph.facebook.com/v21.0').replace(/\/+$/, '')),
  /**
   * The business phone number id this deployment answers for (readiness checks it). Unset: every
   * number whose webhooks reach the app is served, each from its own `metadata.phone_number_id`.
   */
  WHATSAPP_PHONE_NUMBER_ID: optionalString.pipe(graphId.optional()),
  WHATSAPP_DM_POLICY: dmPolicyEnv,
  /** wa_ids (the user's phone number in international format, digits only) always allowed. */
  WHATSAPP_ALLOW_FROM: csv.pipe(z.array(z.string().regex(/^\d{5,20}$/, 'wa_ids are phone numbers, digits only (no +)'))),
  /** How long a pairing code stays valid, in seconds (default 1 h). */
  WHATSAPP_PAIRING_TTL_SECONDS: int(3600, { min: 60 }),
  /** Smallest gap between two messages to one user, in ms (pair rate limit: bursts, then about one per 6 s). */
  WHATSAPP_CHAT_INTERVAL_MS: int(200, { min: 0 }),
  /** Messages per second per business number (Cloud API default throughput: 80). */
  WHATSAPP_GLOBAL_RATE_PER_SECOND: int(80, { min: 1, max: 1000 }),
  /** First wait after a rate-limit error (130429, 4, 80007; 131056 waits 6×), doubled on each repeat, in ms. */
  WHATSAPP_RATE_LIMIT_BACKOFF_MS: int(1000, { min: 1, max: 60_000 }),
  /** Outbound jobs one process sends at once (different users; one user is always sequential). */
  WHATSAPP_OUTBOUND_CONCURRENCY: int(16, { min: 1, max: 256 }),
  /** Refresh interval of the typing indicator while a turn runs, in ms (WhatsApp shows it for up to 25 s). */
  WHATSAPP_TYPING_INTERVAL_MS: int(20_000, { min: 0, max: 25_000 }),
  /** Timeout of one Graph API call, in ms. */
  WHATSAPP_API_TIMEOUT_MS: int(15_000, { min: 100 }),
  /** Largest media file downloaded and kept for the model, in bytes (default 20 MB; larger ones become a note). */
  WHATSAPP_ATTACHMENT_MAX_BYTES: int(20 * 1024 * 1024, { min: 1024, max: 100 * 1024 * 1024 }),
  /** How long downloaded media are kept, in seconds (default 1 day). */
  WHATSAPP_ATTACHMENT_TTL_SECONDS: int(24 * 3600, { min: 60 }),
  /** Port of the standalone service (webhook, admin and ops routes). */
  PORT: int(9204, { min: 0, max: 65535 }),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
});
export type WhatsAppConfig = z.infer<typeof WhatsAppEnv>;

export function loadWhatsAppConfig(env: Env = process.env): WhatsAppConfig {
  return parseEnv(WhatsAppEnv, env);
}
