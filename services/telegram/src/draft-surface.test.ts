import { Api } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeTelegram, type FakeTelegram } from '@switchboard/testkit';
import { telegramDraftSurface } from './draft-surface.ts';

const TOKEN = '4242:draft-token';
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('telegramDraftSurface', () => {
  it('posts plain text in the topic, edits it, types in the topic, and spaces edits per chat (wider in groups)', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const surface = telegramDraftSurface(new Api(TOKEN, { apiRoot: fake.apiRoot }), { botId: '4242', editIntervalMs: 0, groupEditIntervalMs: 60_000 });
    const dm = { account: '4242', chatId: '111' };
    const topic = { account: '4242', chatId: '-100200', threadId: '7' };
    const id = await surface.post(dm, '<b>not markup</b> …');
    await surface.edit(dm, id, 'one …');
    await surface.edit(dm, id, 'one two …');
    await surface.edit(dm, id, 'one two …'); // unchanged: Telegram's "not modified" is not an error
    expect(fake.chat(111)).toMatchObject([{ text: 'one two …', parseMode: undefined, edits: 2 }]);
    const gid = await surface.post(topic, 'group …', { replyTo: ['tg-4242--100200-31', 'tg-4242--100200-35'] });
    expect(fake.succeeded('sendMessage').at(-1)!.params).toMatchObject({ message_thread_id: 7, reply_parameters: { message_id: 35 } });
    await surface.edit(topic, gid, 'group a …');
    await surface.edit(topic, gid, 'group a b …');
    expect(fake.chat(-100200, 7)).toMatchObject([{ text: 'group a …', edits: 1 }]);
    await surface.typing!(topic);
    expect(fake.succeeded('sendChatAction').at(-1)!.params).toMatchObject({ chat_id: '-100200', action: 'typing', message_thread_id: 7 });
    // A draft posted too late is deleted.
    await surface.remove!(dm, id);
    expect(fake.chat(111)).toEqual([]);
    await expect(surface.remove!(dm, id)).rejects.toThrow(/message to delete not found/);
  });

  it('waits out the gap for a draft\'s final text instead of skipping it', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const surface = telegramDraftSurface(new Api(TOKEN, { apiRoot: fake.apiRoot }), { botId: '4242', groupEditIntervalMs: 300 });
    const group = { account: '4242', chatId: '-100200' };
    const id = await surface.post(group, 'half …');
    await surface.edit(group, id, 'half an answer …');
    await surface.edit(group, id, 'half an answer … more'); // too soon: skipped
    await surface.edit(group, id, 'half an answer\n\n(The answer could not be finished.)', { final: true });
    expect(fake.chat(-100200)).toMatchObject([{ text: 'half an answer\n\n(The answer could not be finished.)', edits: 2 }]);
  });
});
