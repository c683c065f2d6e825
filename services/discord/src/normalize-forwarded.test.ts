/**
 * Before the fix: the fix keeps the signed CDN links of a quoted message off the lane, but only
 * those in `referenced_message.attachments`. A forwarded message carries its files in
 * `message_snapshots[].message.attachments` (Discord's forward, message_reference type 1), so a
 * reply to a forwarded picture ("what is in this?", the natural way to ask the bot about it: the
 * forward alone has no text and is ignored) still puts working, credential-free download links of
 * it into the lane's `raw`.
 */
import { describe, expect, it } from 'vitest';
import { normalizeMessage } from './normalize.ts';
import { DcMessage } from './payloads.ts';

const BOT = { id: '111222333444555666', username: 'switchboard' };
const signed = (name: string) => ({
  id: '5',
  filename: name,
  size: 10,
  url: `https://cdn.discordapp.com/attachments/1/2/${name}?ex=1&is=2&hm=3`,
  proxy_url: `https://media.discordapp.net/attachments/1/2/${name}?ex=1&is=2&hm=3`,
  content_type: 'image/png',
});
const forwardOf = (name: string) => ({
  message_reference: { type: 1, message_id: '1234567890123450000', channel_id: '700' },
  message_snapshots: [{ message: { type: 0, content: '', timestamp: '2024-05-01T11:00:00.000000+00:00', attachments: [signed(name)] } }],
});

describe('discord normalize: signed links in forwarded messages', () => {
  it('keeps the signed CDN links of a quoted forward off the lane', () => {
    const msg = DcMessage.parse({
      id: '1234567890123456789',
      channel_id: '800',
      author: { id: '42', username: 'alice' },
      content: 'what is in this picture?',
      timestamp: '2024-05-01T12:00:00.000000+00:00',
      type: 19,
      message_reference: { message_id: '1234567890123456000', channel_id: '800' },
      referenced_message: { id: '1234567890123456000', author: { id: '42', username: 'alice' }, content: '', attachments: [], ...forwardOf('cat.png') },
    });
    const n = normalizeMessage(msg, { bot: BOT, place: (id) => ({ chatId: id }), perUserInGroups: false, receivedAtMs: 1 });
    if (n.kind !== 'message') throw new Error('expected a message');
    expect(JSON.stringify(n.message)).not.toContain('discordapp');
    expect(JSON.stringify(n.message.raw)).toContain('cat.png');
  });

});
