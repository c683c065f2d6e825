import { z } from 'zod';
import { CommonEnv, csv, int, optionalString, parseEnv, type Env } from '@switchboard/config';
import { issuesText, SafeId } from '@switchboard/contracts';
import { DeliverInput } from '@switchboard/scheduler';

const HookName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const HookMap = z.record(
  HookName,
  z
    .object({
      secret: z.string().min(16, 'secret must be at least 16 characters'),
      sessionId: SafeId.optional(),
      account: SafeId.optional(),
      /** Where the assistant's answer goes (default: the hook's session). */
      deliver: DeliverInput.optional(),
      /**
       * Accept only HMAC-signed calls (`X-Hook-Timestamp`, `X-Hook-Signature`) made within the
       * last five minutes, each once: a captured call cannot be replayed.
       */
      signed: z.boolean().optional(),
    })
    .strict(),
);
export type HookConfig = z.infer<typeof HookMap>;

export const WebEnv = CommonEnv.extend({
  PORT: int(8080, { min: 0, max: 65535 }),
  /** Interface to listen on (default all). */
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  /** Bearer keys for the HTTP API; when empty the API answers loopback clients only. */
  SWITCHBOARD_API_KEYS: csv,
  /**
   * Operator keys: bearer keys that also see and act on every account's sessions in the console and
   * `/v1/admin` (platform sessions — Telegram, Slack... — belong to the bot's account, not to an API
   * key). Without any keys, the loopback user is the operator.
   */
  SWITCHBOARD_ADMIN_KEYS: csv,
  /**
   * Inbound webhooks, JSON: `{ "<name>": { "secret": "...", "sessionId"?: "...", "account"?: "...", "deliver"?: { "channel", "chatId", "threadId"? }, "signed"?: true } }`.
   * `POST /v1/hooks/<name>` with the secret wakes the assistant in that session (default `hook-<name>`).
   */
  HOOKS: optionalString.transform((v, ctx) => {
    if (v === undefined) return {};
    const parsed = HookMap.safeParse((() => { try { return JSON.parse(v); } catch { return null; } })());
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `must be a JSON object of hooks (${issuesText(parsed.error.issues)})` });
      return z.NEVER;
    }
    return parsed.data;
  }),
  /** Longest wait for a reply on /v1/chat/completions, in ms (default 300 000). */
  REPLY_TIMEOUT_MS: int(300_000, { min: 100 }),
  /** Largest accepted request body, in bytes (default 1 MiB). */
  MAX_BODY_BYTES: int(1_048_576, { min: 1024 }),
  /**
   * A schedule firing later than this (ms) was missed while the system was down: its schedule's
   * `missedRuns` policy decides between skipping it and running it once (default 60 000).
   */
  SCHEDULE_MISSED_GRACE_MS: int(60_000, { min: 100 }),
});
export type WebConfig = z.infer<typeof WebEnv>;

export function loadWebConfig(env: Env = process.env): WebConfig {
  return parseEnv(WebEnv, env);
}
