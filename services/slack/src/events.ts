import { z } from 'zod';

/*
 * The parts of Slack's Events API and interactivity payloads this service reads. Objects are loose:
 * Slack adds fields often, and an unknown field must never turn a valid delivery into a 400.
 */

export const SlackFile = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  title: z.string().optional(),
  mimetype: z.string().optional(),
  filetype: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  /** Both need `Authorization: Bearer <bot token>`; `_download` serves the file as an attachment. */
  url_private: z.string().optional(),
  url_private_download: z.string().optional(),
  permalink: z.string().optional(),
  /** `hosted`, `external` (a link to another service), `snippet`, `post`, `tombstone` (deleted)... */
  mode: z.string().optional(),
  is_external: z.boolean().optional(),
});
export type SlackFile = z.infer<typeof SlackFile>;

/** A message as it appears in `message` / `app_mention` events and inside `message_changed`. */
export const SlackMessage = z.looseObject({
  type: z.string(),
  subtype: z.string().optional(),
  channel: z.string().optional(),
  channel_type: z.enum(['im', 'mpim', 'channel', 'group', 'app_home']).optional(),
  user: z.string().optional(),
  bot_id: z.string().optional(),
  bot_profile: z.unknown().optional(),
  text: z.string().optional(),
  ts: z.string().regex(/^\d+\.\d+$/),
  thread_ts: z.string().regex(/^\d+\.\d+$/).optional(),
  parent_user_id: z.string().optional(),
  files: z.array(SlackFile).optional(),
  edited: z.looseObject({ user: z.string().optional(), ts: z.string() }).optional(),
  team: z.string().optional(),
});
export type SlackMessage = z.infer<typeof SlackMessage>;

/** A `message` / `app_mention` event; `message_changed` carries the edited message in `message`. */
export const SlackMessageEvent = SlackMessage.extend({
  type: z.enum(['message', 'app_mention']),
  channel: z.string().min(1),
  message: SlackMessage.optional(),
  previous_message: SlackMessage.partial().optional(),
});
export type SlackMessageEvent = z.infer<typeof SlackMessageEvent>;

export const EventCallback = z.looseObject({
  type: z.literal('event_callback'),
  team_id: z.string().min(1),
  api_app_id: z.string().optional(),
  event_id: z.string().min(1),
  event_time: z.number().int().optional(),
  event: z.looseObject({ type: z.string().min(1) }),
});
export type EventCallback = z.infer<typeof EventCallback>;

export const BlockActions = z.looseObject({
  type: z.literal('block_actions'),
  team: z.looseObject({ id: z.string() }).nullable().optional(),
  user: z.looseObject({ id: z.string(), username: z.string().optional(), name: z.string().optional() }),
  channel: z.looseObject({ id: z.string() }).optional(),
  container: z.looseObject({ type: z.string(), channel_id: z.string().optional(), message_ts: z.string().optional(), thread_ts: z.string().optional() }).optional(),
  message: z.looseObject({ ts: z.string(), thread_ts: z.string().optional(), text: z.string().optional() }).optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().optional(), type: z.string().optional() })).min(1),
});
export type BlockActions = z.infer<typeof BlockActions>;

/** Everything `POST /webhooks/slack` accepts; other interactivity types are acknowledged and ignored. */
export const SlackDelivery = z.union([
  z.looseObject({ type: z.literal('url_verification'), challenge: z.string().min(1).max(512) }),
  EventCallback,
  BlockActions,
  z.looseObject({ type: z.literal('app_rate_limited'), team_id: z.string().optional(), minute_rate_limited: z.number().optional() }),
  z.looseObject({ type: z.enum(['view_submission', 'view_closed', 'shortcut', 'message_action', 'block_suggestion', 'interactive_message']) }),
]);
export type SlackDelivery = z.infer<typeof SlackDelivery>;

/** Parses a delivery body: JSON for events, `payload=<json>` (form-encoded) for interactivity. */
export function parseDeliveryBody(raw: string, contentType: string | undefined): unknown {
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(raw);
    const payload = form.get('payload');
    if (payload !== null) return JSON.parse(payload);
    if (form.get('ssl_check') !== null) return { type: 'ssl_check' };
    return Object.fromEntries(form);
  }
  return JSON.parse(raw);
}
