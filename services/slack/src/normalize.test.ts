import { describe, expect, it } from 'vitest';
import { SlackMessageEvent } from './events.ts';
import { normalizeSlackEvent, plainText, type Normalized, type SlackIdentity } from './normalize.ts';

const BOT: SlackIdentity = { teamId: 'T061EG9R6', botUserId: 'U0BOT00001', botId: 'B0BOT00001' };
const norm = (event: Record<string, unknown>, perUser = false): Normalized =>
  normalizeSlackEvent(SlackMessageEvent.parse(event), BOT, { groupSessionPerUser: perUser }, 1_700_000_000_000);
const msg = (n: Normalized) => {
  if (n.kind !== 'message') throw new Error(`ignored: ${n.reason}`);
  return n;
};

// Shaped like the examples on docs.slack.dev (message.im, message.channels, app_mention, message_changed).
const im = { type: 'message', channel: 'D024BE91L', user: 'U2147483697', text: 'Hello hello can you hear me?', ts: '1355517523.000005', event_ts: '1355517523.000005', channel_type: 'im' };
const channelMsg = { type: 'message', channel: 'C024BE91L', user: 'U2147483697', text: 'Live long and prospect.', ts: '1355517523.000005', event_ts: '1355517523.000005', channel_type: 'channel' };

describe('normalizeSlackEvent', () => {
  it('a DM is a private message in the IM channel session', () => {
    const n = msg(norm(im));
    expect(n.isPrivate).toBe(true);
    expect(n.message).toMatchObject({ platform: 'slack', account: 'T061EG9R6', chatId: 'D024BE91L', userId: 'U2147483697', text: 'Hello hello can you hear me?', isGroup: false });
    expect(n.message.sessionKey).toBe('slack:T061EG9R6:D024BE91L');
    expect(n.message.id).toBe('slack-T061EG9R6-D024BE91L-1355517523.000005');
    expect(n.deliveryId).toBe('D024BE91L-1355517523.000005');
  });

  it('a channel message is mentioned only with <@bot>, an app_mention, or a reply in a thread the bot started', () => {
    expect(msg(norm(channelMsg)).mentioned).toBe(false);
    const m = msg(norm({ ...channelMsg, text: '<@U0BOT00001> what is up?' }));
    expect(m.mentioned).toBe(true);
    expect(m.message.text).toBe('what is up?');
    expect(msg(norm({ type: 'app_mention', user: 'U2147483697', text: '<@U0BOT00001> hi', ts: '1515449522.000016', channel: 'C0LAN2Q65', event_ts: '1515449522.000016' })).mentioned).toBe(true);
    expect(msg(norm({ ...channelMsg, thread_ts: '1355517500.000001', parent_user_id: 'U0BOT00001' })).mentioned).toBe(true);
  });

  it('a thread is a session of its own; a thread parent stays in the channel session', () => {
    const inThread = msg(norm({ ...channelMsg, thread_ts: '1355517500.000001' }));
    expect(inThread.message.threadId).toBe('1355517500.000001');
    expect(inThread.message.sessionKey).toBe('slack:T061EG9R6:C024BE91L:t=1355517500.000001');
    const parent = msg(norm({ ...channelMsg, thread_ts: channelMsg.ts }));
    expect(parent.message.threadId).toBeUndefined();
  });

  it('per-user sessions in channels when configured (DMs unchanged)', () => {
    expect(msg(norm(channelMsg, true)).message.sessionKey).toBe('slack:T061EG9R6:C024BE91L:u=U2147483697');
    expect(msg(norm(im, true)).message.sessionKey).toBe('slack:T061EG9R6:D024BE91L');
  });

  it("ignores bots (this one included), system subtypes and empty messages", () => {
    expect(norm({ ...channelMsg, subtype: 'bot_message', bot_id: 'B0OTHER001', user: undefined })).toEqual({ kind: 'ignored', reason: 'from_bot' });
    expect(norm({ ...channelMsg, bot_id: 'B0BOT00001', user: 'U0BOT00001' })).toEqual({ kind: 'ignored', reason: 'own_message' });
    expect(norm({ ...channelMsg, user: 'U0BOT00001' })).toEqual({ kind: 'ignored', reason: 'own_message' });
    expect(norm({ ...channelMsg, subtype: 'channel_join', text: '<@U2147483697> has joined the channel' })).toEqual({ kind: 'ignored', reason: 'subtype' });
    expect(norm({ ...channelMsg, text: '   ' })).toEqual({ kind: 'ignored', reason: 'no_content' });
  });

  it('an edit keeps the original identity (so an answered message is not answered twice) and carries the new text', () => {
    const edit = {
      type: 'message',
      subtype: 'message_changed',
      hidden: true,
      channel: 'C024BE91L',
      channel_type: 'channel',
      ts: '1358878755.000001',
      event_ts: '1358878755.000001',
      message: { type: 'message', user: 'U2147483697', text: '<@U0BOT00001> Hello, world!', ts: '1355517523.000005', edited: { user: 'U2147483697', ts: '1358878755.000001' } },
      previous_message: { type: 'message', user: 'U2147483697', text: 'Hello, world!', ts: '1355517523.000005' },
    };
    const n = msg(norm(edit));
    expect(n.deliveryId).toBe('C024BE91L-1355517523.000005');
    expect(n.mentioned).toBe(true);
    expect(n.message.text).toBe('Hello, world!');
    // Unfurls and our own draft edits arrive as message_changed too.
    expect(norm({ ...edit, previous_message: { ...edit.message } })).toEqual({ kind: 'ignored', reason: 'unchanged_edit' });
    expect(norm({ ...edit, message: { ...edit.message, user: 'U0BOT00001', bot_id: 'B0BOT00001' } })).toEqual({ kind: 'ignored', reason: 'own_message' });
  });

  it('files become download refs (the private download URL first), not attachments; a file without words gets a stand-in text', () => {
    const n = norm({
      ...im,
      subtype: 'file_share',
      text: 'look',
      files: [
        {
          id: 'F0S43PZDF',
          name: 'tedair.gif',
          mimetype: 'image/gif',
          size: 137531,
          url_private: 'https://files.slack.com/files-pri/T0-F0S43PZDF/tedair.gif',
          url_private_download: 'https://files.slack.com/files-pri/T0-F0S43PZDF/download/tedair.gif',
        },
        { id: 'F0S43PZDG', title: 'notes.pdf', mimetype: 'application/pdf', size: 2048, url_private: 'https://files.slack.com/files-pri/T0-F0S43PZDG/notes.pdf' },
        { id: 'F0S43PZDH', mode: 'tombstone', name: 'gone.txt', url_private: 'https://files.slack.com/files-pri/T0-F0S43PZDH/gone.txt' },
      ],
    });
    if (n.kind !== 'message') throw new Error(n.reason);
    expect(n.files).toEqual([
      { id: 'F0S43PZDF', kind: 'image', url: 'https://files.slack.com/files-pri/T0-F0S43PZDF/download/tedair.gif', mimeType: 'image/gif', name: 'tedair.gif', sizeBytes: 137531 },
      { id: 'F0S43PZDG', kind: 'document', url: 'https://files.slack.com/files-pri/T0-F0S43PZDG/notes.pdf', mimeType: 'application/pdf', name: 'notes.pdf', sizeBytes: 2048 },
      { id: 'F0S43PZDH', kind: 'other', url: undefined, name: 'gone.txt' },
    ]);
    // Nothing token-bound goes on the lane: the files are downloaded first (files.ts).
    expect(n.message.attachments).toBeUndefined();
    expect(n.message.text).toBe('look');
    const bare = msg(norm({ ...im, subtype: 'file_share', text: '', files: [{ id: 'F1', name: 'a.png', mimetype: 'image/png', url_private: 'https://f/a.png' }] }));
    expect(bare.message.text).toBe('(file a.png)');
  });
});

describe('plainText', () => {
  it('makes Slack markup readable and unescapes it', () => {
    expect(plainText('<@U0BOT00001> ask <@U123ABC|alice> in <#C024BE7LR|general> about <https://example.com|this> &amp; <https://a.b> &lt;3 <!here>', 'U0BOT00001')).toBe(
      'ask @alice in #general about this (https://example.com) & https://a.b <3 @here',
    );
  });
});
