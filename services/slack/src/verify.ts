import { hmacSha256Hex, signatureMatches } from '@switchboard/channels';

/** How far a request's timestamp may be from our clock, in seconds (Slack's replay window). */
export const SLACK_MAX_SKEW_SECONDS = 300;

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks Slack's request signature: `X-Slack-Signature` must be `v0=` + hex HMAC-SHA256 of
 * `v0:{X-Slack-Request-Timestamp}:{raw body}` under the signing secret, and the timestamp must be
 * within five minutes of now (either way), so a captured request cannot be replayed later.
 */
export function verifySlackSignature(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: Buffer | string,
  nowMs = Date.now(),
): VerifyResult {
  const { timestamp, signature } = headers;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing or malformed X-Slack-Request-Timestamp' };
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: 'X-Slack-Request-Timestamp is more than 5 minutes off' };
  if (!signature || !signature.startsWith('v0=')) return { ok: false, reason: 'missing or unknown X-Slack-Signature version' };
  // Over the raw bytes, exactly as received: re-encoding a parsed body would change them.
  const base = Buffer.concat([Buffer.from(`v0:${timestamp}:`), typeof rawBody === 'string' ? Buffer.from(rawBody) : rawBody]);
  const expected = `v0=${hmacSha256Hex(secret, base)}`;
  return signatureMatches(signature, expected) ? { ok: true } : { ok: false, reason: 'X-Slack-Signature does not match' };
}
