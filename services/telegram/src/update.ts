import { z } from 'zod';

/*
 * The parts of a Bot API Update this service reads. Objects are loose: Telegram adds fields
 * often, and an unknown field must never turn a valid update into a 400.
 */
export const TgUser = z.looseObject({
  id: z.number().int(),
  is_bot: z.boolean(),
  first_name: z.string(),
  username: z.string().optional(),
});
export type TgUser = z.infer<typeof TgUser>;

export const TgChat = z.looseObject({
  id: z.number().int(),
  type: z.enum(['private', 'group', 'supergroup', 'channel']),
  title: z.string().optional(),
  is_forum: z.boolean().optional(),
});

const TgEntity = z.looseObject({
  type: z.string(),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  user: TgUser.optional(),
});

/** A file as Telegram describes it in a message; `file_id` is fetched with getFile. */
const TgFile = z.looseObject({
  file_id: z.string(),
  file_unique_id: z.string().optional(),
  file_size: z.number().int().nonnegative().optional(),
});
const TgPhotoSize = TgFile.extend({ width: z.number().int(), height: z.number().int() });
const TgDocument = TgFile.extend({ file_name: z.string().optional(), mime_type: z.string().optional() });
const TgVoice = TgFile.extend({ duration: z.number().int().nonnegative(), mime_type: z.string().optional() });
const TgAudio = TgVoice.extend({ file_name: z.string().optional(), title: z.string().optional() });

export const TgMessage = z.looseObject({
  message_id: z.number().int(),
  date: z.number().int(),
  chat: TgChat,
  from: TgUser.optional(),
  sender_chat: z.looseObject({ id: z.number().int() }).optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
  entities: z.array(TgEntity).optional(),
  caption_entities: z.array(TgEntity).optional(),
  message_thread_id: z.number().int().optional(),
  is_topic_message: z.boolean().optional(),
  reply_to_message: z.looseObject({ message_id: z.number().int(), from: TgUser.optional() }).optional(),
  edit_date: z.number().int().optional(),
  photo: z.array(TgPhotoSize).optional(),
  document: TgDocument.optional(),
  voice: TgVoice.optional(),
  audio: TgAudio.optional(),
  video: TgDocument.extend({ duration: z.number().int().nonnegative().optional() }).optional(),
});
export type TgMessage = z.infer<typeof TgMessage>;

export const TgCallbackQuery = z.looseObject({
  id: z.string(),
  from: TgUser,
  message: z.looseObject({ message_id: z.number().int(), chat: TgChat, message_thread_id: z.number().int().optional() }).optional(),
  data: z.string().optional(),
});
export type TgCallbackQuery = z.infer<typeof TgCallbackQuery>;

export const TgUpdate = z.looseObject({
  update_id: z.number().int().nonnegative(),
  message: TgMessage.optional(),
  edited_message: TgMessage.optional(),
  channel_post: z.unknown().optional(),
  edited_channel_post: z.unknown().optional(),
  callback_query: TgCallbackQuery.optional(),
});
export type TgUpdate = z.infer<typeof TgUpdate>;
