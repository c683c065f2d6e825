import { z } from 'zod';

/*
 * The parts of gateway dispatch payloads this service reads (API v10). Objects are loose: Discord
 * adds fields often, and an unknown field must never turn a valid event into a rejected one.
 */

/** A Discord id: a 64-bit integer sent as a decimal string. */
export const Snowflake = z.string().regex(/^\d{1,20}$/, 'must be a snowflake');

export const DcUser = z.looseObject({
  id: Snowflake,
  username: z.string(),
  global_name: z.string().nullish(),
  bot: z.boolean().optional(),
  system: z.boolean().optional(),
});
export type DcUser = z.infer<typeof DcUser>;

export const DcAttachment = z.looseObject({
  id: Snowflake,
  filename: z.string(),
  size: z.number().int().nonnegative(),
  url: z.string(),
  content_type: z.string().optional(),
});
export type DcAttachment = z.infer<typeof DcAttachment>;

/** Message types that carry something a person wrote: DEFAULT (0) and REPLY (19). */
export const USER_MESSAGE_TYPES: ReadonlySet<number> = new Set([0, 19]);

export const DcMessage = z.looseObject({
  id: Snowflake,
  channel_id: Snowflake,
  guild_id: Snowflake.optional(),
  author: DcUser,
  member: z.looseObject({ nick: z.string().nullish() }).optional(),
  content: z.string(),
  timestamp: z.string(),
  edited_timestamp: z.string().nullish(),
  type: z.number().int(),
  webhook_id: Snowflake.optional(),
  mentions: z.array(DcUser).default([]),
  mention_roles: z.array(Snowflake).default([]),
  attachments: z.array(DcAttachment).default([]),
  message_reference: z.looseObject({ message_id: Snowflake.optional(), channel_id: Snowflake.optional() }).optional(),
  referenced_message: z.looseObject({ id: Snowflake, author: DcUser.optional(), content: z.string().optional() }).nullish(),
});
export type DcMessage = z.infer<typeof DcMessage>;

/** INTERACTION_CREATE: the parts a component (button) press needs. */
export const DcInteraction = z.looseObject({
  id: Snowflake,
  application_id: Snowflake,
  /** 1 ping, 2 application command, 3 message component, 4 autocomplete, 5 modal submit. */
  type: z.number().int(),
  token: z.string().min(1),
  guild_id: Snowflake.optional(),
  channel_id: Snowflake.optional(),
  member: z.looseObject({ user: DcUser, nick: z.string().nullish() }).optional(),
  user: DcUser.optional(),
  data: z.looseObject({ custom_id: z.string().optional(), component_type: z.number().int().optional() }).optional(),
  message: z.looseObject({ id: Snowflake }).optional(),
});
export type DcInteraction = z.infer<typeof DcInteraction>;

/** Interaction callback types used here. */
export const InteractionCallback = {
  /** A reply to the interaction (with flags 64: only the presser sees it). */
  ChannelMessageWithSource: 4,
  /** "Working on it": the message is updated later through the interaction webhook. */
  DeferredUpdateMessage: 6,
  /** Replaces the message the pressed component is on. */
  UpdateMessage: 7,
} as const;

/** Message flag: only the interaction's user sees the reply. */
export const EPHEMERAL = 64;
