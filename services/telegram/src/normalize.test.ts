import { describe, expect, it } from 'vitest';
import { messageIdFromInbound, normalizeMessage, type BotIdentity } from './normalize.ts';
import { TgMessage } from './update.ts';

const bot: BotIdentity = { id: '777001', username: 'switchboard_test_bot' };
const alice = { id: 111, is_bot: false, first_name: 'Alice', username: 'alice' };
const group = { id: -100200, type: 'supergroup' as const, title: 'team', is_forum: true };
const msg = (fields: Record<string, unknown>) => TgMessage.parse({ message_id: 5, date: 1_700_000_000, chat: { id: 111, type: 'private' }, from: alice, ...fields });
const normalize = (m: TgMessage, opts = {}) => {
  const n = normalizeMessage(m, bot, 1, opts);
  if (n.kind !== 'message') throw new Error(`ignored: ${n.reason}`);
  return n;
};

describe('normalizeMessage', () => {
  it('a DM is its user\'s session; an edit gets its own id, marked "(edited)", and still quotes the original', () => {
    const n = normalize(msg({ text: 'hello' }));
    expect(n.message).toMatchObject({ id: 'tg-777001-111-5', sessionKey: 'telegram:777001:111', userId: '111', userName: 'alice', text: 'hello', isGroup: false });
    const e = normalize(msg({ text: 'hello, fixed', edit_date: 1_700_000_060 }), { edited: true });
    expect(e.message).toMatchObject({ id: 'tg-777001-111-5-e1700000060', sessionKey: 'telegram:777001:111', text: '(edited) hello, fixed' });
    expect(messageIdFromInbound(e.message.id, bot.id, '111')).toBe(5);
  });

  it('mentions: @username, a text mention, /command@bot, and a reply to the bot; the handle is stripped', () => {
    const inGroup = (fields: Record<string, unknown>) => msg({ chat: group, ...fields });
    const at = normalize(inGroup({ text: '@switchboard_test_bot what now?', entities: [{ type: 'mention', offset: 0, length: 21 }] }));
    expect(at).toMatchObject({ mentioned: true, message: { text: 'what now?' } });
    expect(normalize(inGroup({ text: 'hey you', entities: [{ type: 'text_mention', offset: 4, length: 3, user: { id: 777001, is_bot: true, first_name: 'S' } }] })).mentioned).toBe(true);
    expect(normalize(inGroup({ text: '/ask@switchboard_test_bot x', entities: [{ type: 'bot_command', offset: 0, length: 25 }] })).mentioned).toBe(true);
    expect(normalize(inGroup({ text: '@someone_else hi', entities: [{ type: 'mention', offset: 0, length: 13 }] })).mentioned).toBe(false);
    const reply = normalize(inGroup({ text: 'and this?', reply_to_message: { message_id: 3, from: { id: 777001, is_bot: true, first_name: 'S' } } }));
    expect(reply).toMatchObject({ mentioned: true, message: { text: 'and this?' } });
    const toHuman = normalize(msg({ text: 'agreed', reply_to_message: { message_id: 4, from: alice } }));
    expect(toHuman.message.text).toBe('[in reply to message 4] agreed');
  });

  it('a forum topic is its own session; a plain reply thread is not; per-user group sessions when configured', () => {
    expect(normalize(msg({ chat: group, text: 'x', message_thread_id: 7, is_topic_message: true })).message).toMatchObject({ sessionKey: 'telegram:777001:-100200:t=7', threadId: '7' });
    const replyThread = normalize(msg({ chat: { id: -100300, type: 'supergroup' }, text: 'x', message_thread_id: 9 })).message;
    expect(replyThread.sessionKey).toBe('telegram:777001:-100300');
    expect(replyThread.threadId).toBeUndefined();
    const perUser = { groupSessionPerUser: true };
    expect(normalize(msg({ chat: group, text: 'x' }), perUser).message.sessionKey).toBe('telegram:777001:-100200:u=111');
    expect(normalize(msg({ chat: group, text: 'x', message_thread_id: 7, is_topic_message: true }), perUser).message.sessionKey).toBe('telegram:777001:-100200:t=7:u=111');
    // DMs are per user anyway.
    expect(normalize(msg({ text: 'x' }), perUser).message.sessionKey).toBe('telegram:777001:111');
  });

  it('files: the largest photo within the cap, the caption as text, a stand-in text without one', () => {
    const photo = [
      { file_id: 's', file_size: 100, width: 90, height: 90 },
      { file_id: 'm', file_size: 5_000, width: 320, height: 320 },
      { file_id: 'l', file_size: 50_000, width: 1280, height: 1280 },
    ];
    const n = normalize(msg({ photo, caption: 'look' }), { maxFileBytes: 10_000 });
    expect(n.message.text).toBe('look');
    expect(n.files).toEqual([{ fileId: 'm', kind: 'image', mimeType: 'image/jpeg', name: 'photo.jpg', sizeBytes: 5_000 }]);
    expect(normalize(msg({ document: { file_id: 'd', file_name: 'a.pdf', mime_type: 'application/pdf' } })).message.text).toBe('(file a.pdf)');
    expect(normalize(msg({ voice: { file_id: 'v', duration: 4 } })).files[0]).toMatchObject({ kind: 'audio', mimeType: 'audio/ogg' });
  });

  it('ignores bots (itself included), channel posts, and messages with neither text nor files', () => {
    expect(normalizeMessage(msg({ text: 'hi', from: { id: 9, is_bot: true, first_name: 'B' } }), bot, 1)).toEqual({ kind: 'ignored', reason: 'from_bot' });
    expect(normalizeMessage(msg({ text: 'hi', chat: { id: -1001, type: 'channel' } }), bot, 1)).toEqual({ kind: 'ignored', reason: 'channel' });
    expect(normalizeMessage(msg({ sticker: { file_id: 'x' } }), bot, 1)).toEqual({ kind: 'ignored', reason: 'no_text' });
  });
});
