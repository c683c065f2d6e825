import { z } from 'zod';
import { dmPolicyEnv, envBool as bool, groupPolicyEnv } from '@switchboard/channels';
import { CommonEnv, csv, int, optionalString, parseEnv, urlString, type Env } from '@switchboard/config';

export const SlackEnv = CommonEnv.extend({
  /** Bot token (`xoxb-…`) of the workspace installation. Without it the service is disabled. */
  SLACK_BOT_TOKEN: optionalString.pipe(z.string().regex(/^(xoxe\.)?xox[bp]-[A-Za-z0-9-]+$/, 'must look like xoxb-…').optional()),
  /** Signing secret from the app's Basic Information page; HTTP events are refused while unset. */
  SLACK_SIGNING_SECRET: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{8,128}$/, 'must be 8-128 letters and digits').optional()),
  /** Web API base (Bolt `clientOptions.slackApiUrl`), ending in `/`; point it at a test double or a proxy. */
  SLACK_API_URL: urlString(['http:', 'https:']).transform((v) => (v === undefined ? 'https://slack.com/api/' : v.endsWith('/') ? v : `${v}/`)),
  /** App-level token (`xapp-…`, scope connections:write): when set, events arrive over Socket Mode instead of HTTP. */
  SLACK_APP_TOKEN: optionalString.pipe(z.string().regex(/^xapp-[A-Za-z0-9-]+$/, 'must look like xapp-…').optional()),
  SLACK_DM_POLICY: dmPolicyEnv,
  SLACK_GROUP_POLICY: groupPolicyEnv,
  /** Slack user ids (U…/W…) always allowed in DMs (and to press approval buttons in channels). */
  SLACK_ALLOW_FROM: csv.pipe(z.array(z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'user ids look like U0123ABCD'))),
  /** In channels, answer only messages that mention the bot or reply in a thread it started (default true). */
  SLACK_GROUP_REQUIRE_MENTION: bool(true),
  /** In channels, one session per user instead of one per channel (threads stay sessions of their own). */
  SLACK_GROUP_SESSION_PER_USER: bool(false),
  /** How long a pairing code stays valid, in seconds (default 1 h). */
  SLACK_PAIRING_TTL_SECONDS: int(3600, { min: 60 }),
  /** Smallest gap between two messages to one channel, in ms (Slack allows about 1 per second). */
  SLACK_CHAT_INTERVAL_MS: int(1000, { min: 0 }),
  /** Messages per second the bot sends overall, across channels. */
  SLACK_GLOBAL_RATE_PER_SECOND: int(20, { min: 1 }),
  /** Outbound jobs one process sends at once (different channels; one channel is always sequential). */
  SLACK_OUTBOUND_CONCURRENCY: int(8, { min: 1, max: 256 }),
  /** Smallest gap between two edits of a streamed draft, in ms (chat.update is Tier 3, ~50/min); 0 turns streaming off. */
  SLACK_DRAFT_EDIT_INTERVAL_MS: int(1500, { min: 0 }),
  /** Longest an HTTP event waits for its lane before it is acknowledged anyway, in ms (Slack gives up after 3 s). */
  SLACK_ACK_DEADLINE_MS: int(2500, { min: 100, max: 2900 }),
  /** Largest shared file downloaded and kept for the model, in bytes (default 20 MB; larger ones become a note). */
  SLACK_ATTACHMENT_MAX_BYTES: int(20 * 1024 * 1024, { min: 1024, max: 100 * 1024 * 1024 }),
  /** How long downloaded files are kept for the agent, in seconds (default 1 day). */
  SLACK_ATTACHMENT_TTL_SECONDS: int(24 * 3600, { min: 60 }),
  /** Port of the standalone service (webhook, admin and ops routes). */
  PORT: int(9202, { min: 0, max: 65535 }),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
});
export type SlackConfig = z.infer<typeof SlackEnv>;

export function loadSlackConfig(env: Env = process.env): SlackConfig {
  return parseEnv(SlackEnv, env);
}
