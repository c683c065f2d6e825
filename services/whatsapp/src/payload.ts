import { z } from 'zod';
import { issuesText } from '@switchboard/contracts';

/*
 * The parts of a Cloud API webhook this service reads (Meta's "messages" field). Objects are loose:
 * Meta adds fields often, and an unknown field must never turn a valid delivery into a 400. Message
 * types we do not handle (sticker, location, reaction, unsupported...) still parse and are ignored.
 */

const Media = z.looseObject({
  id: z.string().min(1),
  mime_type: z.string().optional(),
  sha256: z.string().optional(),
  caption: z.string().optional(),
  filename: z.string().optional(),
  voice: z.boolean().optional(),
});
export type WaMedia = z.infer<typeof Media>;

export const WaMessage = z.looseObject({
  from: z.string().min(1),
  id: z.string().min(1),
  timestamp: z.string().optional(),
  type: z.string().min(1),
  text: z.looseObject({ body: z.string() }).optional(),
  image: Media.optional(),
  document: Media.optional(),
  audio: Media.optional(),
  video: Media.optional(),
  interactive: z
    .looseObject({
      type: z.string(),
      button_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
      list_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
    })
    .optional(),
  /** Quick-reply buttons of template messages. */
  button: z.looseObject({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  /** Set when the user replied to (quoted) a message, or forwarded one. */
  context: z
    .looseObject({
      from: z.string().optional(),
      id: z.string().optional(),
      forwarded: z.boolean().optional(),
      frequently_forwarded: z.boolean().optional(),
    })
    .optional(),
});
export type WaMessage = z.infer<typeof WaMessage>;

export const WaStatus = z.looseObject({
  id: z.string(),
  status: z.string(),
  recipient_id: z.string().optional(),
  errors: z.array(z.looseObject({ code: z.number().optional(), title: z.string().optional() })).optional(),
});

export const WaValue = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  metadata: z.looseObject({ display_phone_number: z.string().optional(), phone_number_id: z.string().regex(/^\d{1,32}$/) }),
  contacts: z.array(z.looseObject({ wa_id: z.string(), profile: z.looseObject({ name: z.string().optional() }).optional() })).optional(),
  messages: z.array(WaMessage).optional(),
  statuses: z.array(WaStatus).optional(),
  errors: z.array(z.looseObject({ code: z.number().optional(), title: z.string().optional() })).optional(),
});
export type WaValue = z.infer<typeof WaValue>;

export const WaWebhook = z.looseObject({
  object: z.string(),
  entry: z.array(
    z.looseObject({
      id: z.string(),
      changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })),
    }),
  ),
});
export type WaWebhook = z.infer<typeof WaWebhook>;

/** Parses a verified body as a Cloud API webhook (every `messages` value checked); otherwise says what is wrong, for the 400. */
export function validatePayload(body: Buffer): { ok: true; payload: WaWebhook } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const parsed = WaWebhook.safeParse(json);
  if (!parsed.success) return { ok: false, reason: issuesText(parsed.error.issues) };
  for (const [e, entry] of parsed.data.entry.entries()) {
    for (const [c, change] of entry.changes.entries()) {
      if (change.field !== 'messages') continue;
      const value = WaValue.safeParse(change.value);
      if (!value.success) {
        return { ok: false, reason: issuesText(value.error.issues, `entry.${e}.changes.${c}.value`) };
      }
    }
  }
  return { ok: true, payload: parsed.data };
}
