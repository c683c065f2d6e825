/**
 * The Slack test rig: the real one-process core plus the Slack service started in-process against
 * the same Redis and prefix, talking through Bolt / @slack/web-api to the fake Web API, with
 * deliveries signed exactly as Slack signs them. Used by the contract suite and the Slack tests.
 */
import type { Server } from 'node:http';
import express from 'express';
import { inject } from 'vitest';
import type { Registry } from 'prom-client';
import { countTokens } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import { loadSlackConfig, startSlackService, type SlackService } from '@switchboard/slack';
import { slackSignatureHeaders, startFakeSlack, waitFor, type FakeScript, type FakeSlack } from '@switchboard/testkit';
import { startTestSystem, type TestSystem } from '../support/system.ts';

export const BOT_TOKEN = 'xoxb-1111-2222-testtoken';
export const APP_TOKEN = 'xapp-1-A0TEST0001-3333-testapptoken';
export const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
export const GROUP_CHANNEL = 'C0GROUP001';
/** Slack opens one IM channel (D…) per user with the bot. */
export const imOf = (user: string) => `D${user.slice(1)}`;

export interface SlackRig {
  t: TestSystem;
  slack: FakeSlack;
  service: SlackService;
  registry: Registry;
  url: string;
  /** POSTs a raw body to /webhooks/slack, signed with `secret` (null: unsigned) and extra headers. */
  post(body: string, opts?: { secret?: string | null; headers?: Record<string, string>; contentType?: string; timestampSec?: number }): Promise<Response>;
  close(): Promise<void>;
}

export interface SlackRigOptions {
  /** Environment for the core and the Slack service. */
  env?: Record<string, string>;
  /** Environment for the Slack service only. */
  serviceEnv?: Record<string, string>;
  script?: FakeScript;
  /** Runs before the service starts (script the fake's first answers). */
  beforeService?: (slack: FakeSlack) => void;
  /** Wait for auth.test before returning (default true). */
  waitForIdentity?: boolean;
}

export async function startSlackRig(opts: SlackRigOptions = {}): Promise<SlackRig> {
  const env = opts.env ?? {};
  countTokens('warm up');
  const t = await startTestSystem({ env: { QUEUED_PLATFORMS: 'slack', ...env } });
  if (opts.script) t.model.setScript(opts.script);
  const slack = await startFakeSlack({ token: BOT_TOKEN, appToken: APP_TOKEN });
  const registry = createRegistry({ defaultMetrics: false });
  let server: Server | undefined;
  let service: SlackService | undefined;
  const close = async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(() => resolve(undefined)));
    }
    await service?.close();
    await t.stop();
    await slack.close();
  };
  try {
    const config = loadSlackConfig({
      REDIS_URL: inject('redisUrl'),
      SWITCHBOARD_PREFIX: t.prefix,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      SLACK_CHAT_INTERVAL_MS: '50',
      SLACK_DRAFT_EDIT_INTERVAL_MS: '100',
      SLACK_DM_POLICY: 'open',
      ...env,
      ...opts.serviceEnv,
    });
    opts.beforeService?.(slack);
    const logger = createLogger({ service: 'slack', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    service = (await startSlackService({ config, logger, registry, redisUrl: inject('redisUrl') }))!;
    const app = express();
    app.use(service.router);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const svc = service;
    if (opts.waitForIdentity !== false) await waitFor(() => svc.identity(), { message: 'auth.test' });
    return {
      t,
      slack,
      service: svc,
      registry,
      url,
      post: (body, o = {}) =>
        fetch(`${url}/webhooks/slack`, {
          method: 'POST',
          headers: {
            'content-type': o.contentType ?? 'application/json',
            ...(o.secret === null ? {} : slackSignatureHeaders(o.secret ?? SIGNING_SECRET, body, o.timestampSec)),
            ...o.headers,
          },
          body,
        }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

let eventSeq = 0;
let tsSeq = 0;
/** A fresh message ts, as Slack makes them (`<epoch seconds>.<6 digits>`). */
export const nextTs = () => `${1_700_000_000 + ++tsSeq}.000200`;
export const nextEventId = () => `Ev0TEST${String(++eventSeq).padStart(6, '0')}`;

/** An Events API envelope, shaped like Slack's documented example. */
export function envelope(event: Record<string, unknown>, teamId = 'T0TEST0001', eventId = nextEventId()) {
  return {
    token: 'verification-token-unused',
    team_id: teamId,
    api_app_id: 'A0TEST0001',
    event,
    type: 'event_callback',
    event_id: eventId,
    event_time: 1_700_000_000,
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: 'U0BOT00001', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: '4-eyJldCI6Im1lc3NhZ2UifQ',
  };
}

/** A `message.im` event from `user`. */
export function dmEvent(user: string, text: string, extra: Record<string, unknown> = {}) {
  const ts = nextTs();
  return { client_msg_id: `c-${ts}`, type: 'message', text, user, ts, team: 'T0TEST0001', channel: imOf(user), event_ts: ts, channel_type: 'im', ...extra };
}

/** A `message.channels` event in the test channel. */
export function channelEvent(user: string, text: string, extra: Record<string, unknown> = {}) {
  const ts = nextTs();
  return { client_msg_id: `c-${ts}`, type: 'message', text, user, ts, team: 'T0TEST0001', channel: GROUP_CHANNEL, event_ts: ts, channel_type: 'channel', ...extra };
}

/** The `app_mention` twin Slack sends alongside a channel message that mentions the bot. */
export function mentionTwin(message: { text: string; user: string; ts: string; channel: string; thread_ts?: string }) {
  return { type: 'app_mention', user: message.user, text: message.text, ts: message.ts, channel: message.channel, event_ts: message.ts, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}) };
}

/** A `block_actions` payload: `user` pressed the button `actionId` under the bot's message `messageTs`. */
export function blockActions(user: string, channel: string, messageTs: string, actionId: string, threadTs?: string) {
  return {
    type: 'block_actions',
    user: { id: user, username: `user-${user}`, name: `user-${user}`, team_id: 'T0TEST0001' },
    api_app_id: 'A0TEST0001',
    token: 'verification-token-unused',
    container: { type: 'message', message_ts: messageTs, channel_id: channel, is_ephemeral: false, ...(threadTs ? { thread_ts: threadTs } : {}) },
    trigger_id: '123.456.abc',
    team: { id: 'T0TEST0001', domain: 'switchboard-test' },
    channel: { id: channel, name: channel.startsWith('D') ? 'directmessage' : 'general' },
    message: { type: 'message', user: 'U0BOT00001', ts: messageTs, bot_id: 'B0BOT00001', text: 'approval', ...(threadTs ? { thread_ts: threadTs } : {}) },
    response_url: 'https://hooks.slack.com/actions/T0TEST0001/1/abc',
    actions: [{ action_id: actionId, block_id: 'approval', text: { type: 'plain_text', text: 'Approve' }, value: 'approve', type: 'button', action_ts: '1700000000.1' }],
  };
}

/** An interactivity delivery body: `payload=<json>`, form-encoded, as Slack posts it. */
export const formPayload = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
