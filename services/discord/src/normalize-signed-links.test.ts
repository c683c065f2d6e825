/**
 * The signed CDN links of attachments never reach the lane. Before the fix, normalizeMessage stripped `url`/`proxy_url` from the
 * message's own attachments before `raw` goes on the lane ("the signed links never reach the
 * lane"), but a reply carries the message it answers in `referenced_message`, attachments and
 * their signed, credential-free CDN links included: "what is in this picture?" as a reply to an
 * image puts a working download link of it into the lane (Redis inbox, and whatever reads `raw`).
 * The same held for a forwarded message's files (`message_snapshots[].message.attachments`),
 * quoted by a reply to the forward.
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

function reply(extra: Record<string, unknown> = {}) {
  return DcMessage.parse({
    id: '1234567890123456789',
    channel_id: '800',
    author: { id: '42', username: 'alice' },
    content: 'what is in this picture?',
    timestamp: '2024-05-01T12:00:00.000000+00:00',
    type: 19,
    message_reference: { message_id: '1234567890123456000', channel_id: '800' },
    referenced_message: { id: '1234567890123456000', author: { id: '43', username: 'bob' }, content: '', attachments: [signed('cat.png')] },
    ...extra,
  });
}

describe('discord normalize: signed links in quoted and forwarded messages', () => {
  it('keeps the signed CDN links of a quoted message off the lane', () => {
    for (const msg of [reply(), reply({ attachments: [signed('dog.png')] })]) {
      const n = normalizeMessage(msg, { bot: BOT, place: (id) => ({ chatId: id }), perUserInGroups: false, receivedAtMs: 1 });
      if (n.kind !== 'message') throw new Error('expected a message');
      expect(JSON.stringify(n.message)).not.toContain('discordapp');
      // What the attachments were is still there.
      expect(JSON.stringify(n.message.raw)).toContain('cat.png');
    }
  });

  it('keeps the signed CDN links of a quoted forward off the lane', () => {
    const msg = reply({ referenced_message: { id: '1234567890123456000', author: { id: '42', username: 'alice' }, content: '', attachments: [], ...forwardOf('cat.png') } });
    const n = normalizeMessage(msg, { bot: BOT, place: (id) => ({ chatId: id }), perUserInGroups: false, receivedAtMs: 1 });
    if (n.kind !== 'message') throw new Error('expected a message');
    expect(JSON.stringify(n.message)).not.toContain('discordapp');
    expect(JSON.stringify(n.message.raw)).toContain('cat.png');
  });
});
