import { z } from 'zod';
import { CommonEnv, csv, int, optionalString, parseEnv, type Env } from '@switchboard/config';

export const WebEnv = CommonEnv.extend({
  PORT: int(8080, { min: 0, max: 65535 }),
  /** Interface to listen on (default all). */
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  /** Bearer keys for the HTTP API; when empty the API answers loopback clients only. */
  SWITCHBOARD_API_KEYS: csv,
  /** Longest wait for a reply on /v1/chat/completions, in ms (default 300 000). */
  REPLY_TIMEOUT_MS: int(300_000, { min: 100 }),
  /** Largest accepted request body, in bytes (default 1 MiB). */
  MAX_BODY_BYTES: int(1_048_576, { min: 1024 }),
});
export type WebConfig = z.infer<typeof WebEnv>;

export function loadWebConfig(env: Env = process.env): WebConfig {
  return parseEnv(WebEnv, env);
}
