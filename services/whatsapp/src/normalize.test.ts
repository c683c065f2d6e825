import { describe, expect, it } from 'vitest';
import { inboundId, normalizeMessage, wamidFromInbound } from './normalize.ts';
import { validatePayload, WaValue, type WaMessage } from './payload.ts';

// Shaped like the examples in Meta's "Webhooks: messages" reference.
const documented = (message: Record<string, unknown>) => ({
  object: 'whatsapp_business_account',
  entry: [
    {
      id: '102290129340398',
      changes: [
        {
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
            contacts: [{ profile: { name: 'Sheena Nelson' }, wa_id: '16505551234' }],
            messages: [{ from: '16505551234', id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=', timestamp: '1749416383', ...message }],
          },
          field: 'messages',
        },
      ],
    },
  ],
});

function normalize(message: Record<string, unknown>) {
  const checked = validatePayload(Buffer.from(JSON.stringify(documented(message))));
  if (!checked.ok) throw new Error(checked.reason);
  const value = WaValue.parse(checked.payload.entry[0]!.changes[0]!.value);
  return normalizeMessage(value.messages![0] as WaMessage, value, 1_700_000_000_000);
}

describe('normalizeMessage', () => {
  it('a text message becomes a DM session per (business number, wa_id) with the profile name', () => {
    const n = normalize({ type: 'text', text: { body: 'Does it come in another color?' } });
    expect(n).toMatchObject({
      kind: 'message',
      message: {
        platform: 'whatsapp',
        sessionKey: 'whatsapp:106540352242922:16505551234',
        account: '106540352242922',
        chatId: '16505551234',
        userId: '16505551234',
        userName: 'Sheena Nelson',
        text: 'Does it come in another color?',
        isGroup: false,
      },
    });
    if (n.kind !== 'message') throw new Error('not a message');
    expect(wamidFromInbound(n.message.id)).toBe('wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=');
  });

  it('an image keeps its caption and becomes an attachment holding a media reference, never a URL', () => {
    const n = normalize({ type: 'image', image: { caption: 'This is a caption', mime_type: 'image/jpeg', sha256: 'abc=', id: '1003383421387256' } });
    expect(n).toMatchObject({ kind: 'message', message: { text: 'This is a caption', attachments: [{ kind: 'image', url: 'whatsapp-media:1003383421387256', mimeType: 'image/jpeg' }] } });
  });

  it('a document without caption gets its file name as text; a voice note says so', () => {
    expect(normalize({ type: 'document', document: { filename: 'report.pdf', mime_type: 'application/pdf', sha256: 'x', id: '4455' } })).toMatchObject({
      message: { text: '[document: report.pdf]', attachments: [{ kind: 'document', name: 'report.pdf', url: 'whatsapp-media:4455' }] },
    });
    expect(normalize({ type: 'audio', audio: { mime_type: 'audio/ogg; codecs=opus', sha256: 'x', id: '7788', voice: true } })).toMatchObject({
      message: { text: '[voice message]', attachments: [{ kind: 'audio', url: 'whatsapp-media:7788' }] },
    });
  });

  it('a reply button press is an interaction carrying the button id', () => {
    const n = normalize({
      type: 'interactive',
      context: { from: '15550783881', id: 'wamid.prompt' },
      interactive: { type: 'button_reply', button_reply: { id: 'ap:ap_0123:approve', title: 'Approve' } },
    });
    expect(n).toEqual({ kind: 'button', data: 'ap:ap_0123:approve', account: '106540352242922', userId: '16505551234', wamid: expect.stringMatching(/^wamid\./) });
  });

  it('notes a quoted message (context.id) and a forward in the text', () => {
    expect(normalize({ type: 'text', text: { body: 'this one' }, context: { from: '16505551234', id: 'wamid.older' } })).toMatchObject({
      message: { text: '[in reply to message wamid.older] this one' },
    });
    // Quoting the bot's own message needs no note: the model has that message in its history.
    expect(normalize({ type: 'text', text: { body: 'yes' }, context: { from: '15550783881', id: 'wamid.bot' } })).toMatchObject({ message: { text: 'yes' } });
    expect(normalize({ type: 'text', text: { body: 'look' }, context: { forwarded: true } })).toMatchObject({ message: { text: '[forwarded] look' } });
  });

  it('ignores types it does not handle and messages from the business number itself', () => {
    expect(normalize({ type: 'sticker', sticker: { id: '1', mime_type: 'image/webp' } })).toEqual({ kind: 'ignored', reason: 'unsupported_type' });
    expect(normalize({ type: 'reaction', reaction: { message_id: 'wamid.x', emoji: '👍' } })).toEqual({ kind: 'ignored', reason: 'unsupported_type' });
    expect(normalize({ type: 'text', text: { body: 'echo' }, from: '15550783881' })).toEqual({ kind: 'ignored', reason: 'own_number' });
  });

  it('round-trips our inbound ids', () => {
    expect(wamidFromInbound(inboundId('wamid.A+/='))).toBe('wamid.A+/=');
    expect(wamidFromInbound('tg-1-2-3')).toBeUndefined();
  });
});

describe('validatePayload', () => {
  it('accepts statuses-only deliveries and other fields, and rejects a messages value without metadata', () => {
    const statuses = documented({ type: 'text', text: { body: 'x' } });
    const v = statuses.entry[0]!.changes[0]!.value as Record<string, unknown>;
    delete v.messages;
    v.statuses = [{ id: 'wamid.x', status: 'delivered', timestamp: '1', recipient_id: '16505551234' }];
    expect(validatePayload(Buffer.from(JSON.stringify(statuses))).ok).toBe(true);
    expect(validatePayload(Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'account_update', value: { event: 'X' } }] }] }))).ok).toBe(true);
    const bad = validatePayload(Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp' } }] }] })));
    expect(bad).toMatchObject({ ok: false, reason: expect.stringContaining('metadata') });
    expect(validatePayload(Buffer.from('{not json'))).toEqual({ ok: false, reason: 'body is not JSON' });
  });
});
