import { describe, expect, it } from 'vitest';
import { inboundId, messageIdFromInbound, normalizeMessage, type NormalizeOptions } from './normalize.ts';
import { DcMessage } from './payloads.ts';
import { classifyDispatch } from './gateway.ts';

const BOT = { id: '111222333444555666', username: 'switchboard' };
const opts = (o: Partial<NormalizeOptions> = {}): NormalizeOptions => ({
  bot: BOT,
  place: (id) => (id === '900' ? { chatId: '800', threadId: '900' } : { chatId: id }),
  perUserInGroups: false,
  receivedAtMs: 1_700_000_000_000,
  ...o,
});

/** A MESSAGE_CREATE `d` shaped like Discord's documented example (API v10). */
function payload(extra: Record<string, unknown> = {}) {
  return DcMessage.parse({
    id: '1234567890123456789',
    channel_id: '800',
    guild_id: '700',
    author: { id: '42', username: 'alice', global_name: 'Alice', avatar: null, discriminator: '0', public_flags: 0 },
    member: { roles: [], nick: null, joined_at: '2024-01-01T00:00:00.000Z', deaf: false, mute: false },
    content: 'hello there',
    timestamp: '2024-05-01T12:00:00.000000+00:00',
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
    type: 0,
    flags: 0,
    ...extra,
  });
}
const botMention = { id: BOT.id, username: BOT.username, bot: true, global_name: null };

describe('normalizeMessage', () => {
  it('a DM is its own session per user, and is never "mentioned"', () => {
    const n = normalizeMessage(payload({ guild_id: undefined, member: undefined, channel_id: '555' }), opts());
    expect(n).toMatchObject({ kind: 'message', isPrivate: true, mentioned: false, deliveryId: '1234567890123456789' });
    if (n.kind !== 'message') throw new Error('expected a message');
    expect(n.message).toMatchObject({ sessionKey: `discord:${BOT.id}:555`, chatId: '555', userId: '42', userName: 'Alice', isGroup: false, text: 'hello there' });
    expect(n.message.id).toBe(inboundId(BOT.id, '1234567890123456789'));
  });

  it('an @mention addresses the bot and is cut from the text; other mentions become readable names', () => {
    const n = normalizeMessage(payload({ content: `<@!${BOT.id}> ask <@43> please`, mentions: [botMention, { id: '43', username: 'bob', global_name: null }] }), opts());
    expect(n).toMatchObject({ kind: 'message', mentioned: true, isPrivate: false, message: { text: 'ask @bob please', sessionKey: `discord:${BOT.id}:800` } });
  });

  it("mentioning the bot's managed role addresses it too", () => {
    const n = normalizeMessage(payload({ content: '<@&600> status?', mention_roles: ['600'] }), opts({ botRole: (guild) => (guild === '700' ? '600' : undefined) }));
    expect(n).toMatchObject({ kind: 'message', mentioned: true, message: { text: 'status?' } });
    const other = normalizeMessage(payload({ content: '<@&601> status?', mention_roles: ['601'] }), opts({ botRole: () => '600' }));
    expect(other).toMatchObject({ kind: 'message', mentioned: false, message: { text: '<@&601> status?' } });
  });

  it('a reply to the bot addresses it; a reply to someone else quotes them', () => {
    const toBot = normalizeMessage(payload({ type: 19, referenced_message: { id: '1', author: botMention, content: 'earlier' } }), opts());
    expect(toBot).toMatchObject({ kind: 'message', mentioned: true, message: { text: 'hello there' } });
    const toBob = normalizeMessage(payload({ type: 19, referenced_message: { id: '1', author: { id: '43', username: 'bob' }, content: 'lunch?' } }), opts());
    expect(toBob).toMatchObject({ kind: 'message', mentioned: false, message: { text: '[in reply to bob: "lunch?"] hello there' } });
  });

  it('a thread is a session of its own under its parent channel', () => {
    const n = normalizeMessage(payload({ channel_id: '900' }), opts());
    expect(n).toMatchObject({ kind: 'message', message: { chatId: '800', threadId: '900', sessionKey: `discord:${BOT.id}:800:t=900` } });
  });

  it('per-user sessions in servers when configured', () => {
    const n = normalizeMessage(payload(), opts({ perUserInGroups: true }));
    expect(n).toMatchObject({ kind: 'message', message: { sessionKey: `discord:${BOT.id}:800:u=42` } });
  });

  it('attachments become file refs to download, not lane attachments; the raw payload loses the signed links; a file without text still reaches the model', () => {
    const n = normalizeMessage(
      payload({
        content: '',
        attachments: [
          { id: '5', filename: 'cat.png', size: 10, url: 'https://cdn.discordapp.com/a/cat.png?ex=1&is=2&hm=3', proxy_url: 'https://media.discordapp.net/a/cat.png?ex=1&is=2&hm=3', content_type: 'image/png' },
          { id: '6', filename: 'notes', size: 3, url: 'https://cdn.discordapp.com/a/notes' },
        ],
      }),
      opts(),
    );
    expect(n).toMatchObject({
      kind: 'message',
      message: { text: '[sent cat.png, notes]' },
      files: [
        { id: '5', kind: 'image', url: 'https://cdn.discordapp.com/a/cat.png?ex=1&is=2&hm=3', mimeType: 'image/png', name: 'cat.png', sizeBytes: 10 },
        { id: '6', kind: 'other', url: 'https://cdn.discordapp.com/a/notes', name: 'notes', sizeBytes: 3 },
      ],
    });
    if (n.kind !== 'message') throw new Error('expected a message');
    expect(n.message.attachments).toBeUndefined();
    expect(JSON.stringify(n.message)).not.toContain('discordapp');
    expect(JSON.stringify(n.message.raw)).toContain('cat.png');
  });

  it('ignores bots (itself included), webhooks, system messages and empty messages', () => {
    expect(normalizeMessage(payload({ author: { id: '9', username: 'otherbot', bot: true } }), opts())).toEqual({ kind: 'ignored', reason: 'from_bot' });
    expect(normalizeMessage(payload({ author: { id: BOT.id, username: 'switchboard' } }), opts())).toEqual({ kind: 'ignored', reason: 'from_bot' });
    expect(normalizeMessage(payload({ webhook_id: '77' }), opts())).toEqual({ kind: 'ignored', reason: 'from_bot' });
    expect(normalizeMessage(payload({ type: 7 }), opts())).toEqual({ kind: 'ignored', reason: 'system' });
    expect(normalizeMessage(payload({ content: '   ' }), opts())).toEqual({ kind: 'ignored', reason: 'no_text' });
  });

  it('an edit is a new delivery per edited_timestamp; a preview-only update is not', () => {
    expect(normalizeMessage(payload(), opts({ edit: true }))).toEqual({ kind: 'ignored', reason: 'not_edited' });
    const n = normalizeMessage(payload({ content: 'fixed', edited_timestamp: '2024-05-01T12:01:00.000000+00:00' }), opts({ edit: true }));
    const at = Date.parse('2024-05-01T12:01:00.000000+00:00');
    expect(n).toMatchObject({ kind: 'message', deliveryId: `1234567890123456789-e${at}`, message: { text: '[edited message] fixed' } });
    if (n.kind === 'message') expect(messageIdFromInbound(n.message.id, BOT.id)).toBe('1234567890123456789');
  });

  it('reads a message id back only from its own bot', () => {
    expect(messageIdFromInbound(inboundId(BOT.id, '77'), BOT.id)).toBe('77');
    expect(messageIdFromInbound(inboundId('999', '77'), BOT.id)).toBeUndefined();
    expect(messageIdFromInbound('tg-1-2-3', BOT.id)).toBeUndefined();
  });
});

describe('classifyDispatch', () => {
  it('rejects an invalid MESSAGE_CREATE or INTERACTION_CREATE, ignores a partial MESSAGE_UPDATE and other events', () => {
    expect(classifyDispatch('MESSAGE_CREATE', { id: 'x', content: 1 })).toMatchObject({ kind: 'rejected' });
    expect(classifyDispatch('MESSAGE_CREATE', null)).toMatchObject({ kind: 'rejected' });
    expect(classifyDispatch('INTERACTION_CREATE', { id: '1', type: 3 })).toMatchObject({ kind: 'rejected' });
    expect(classifyDispatch('MESSAGE_UPDATE', { id: '1', channel_id: '2', embeds: [] })).toEqual({ kind: 'ignored' });
    expect(classifyDispatch('MESSAGE_UPDATE', null)).toMatchObject({ kind: 'rejected' });
    expect(classifyDispatch('TYPING_START', { channel_id: '2' })).toEqual({ kind: 'ignored' });
    expect(classifyDispatch('MESSAGE_CREATE', payload())).toMatchObject({ kind: 'message', edit: false });
  });
});
