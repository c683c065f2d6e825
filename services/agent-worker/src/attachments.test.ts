import { describe, expect, it } from 'vitest';
import type { Attachment, InboundMessage } from '@switchboard/contracts';
import { textWithAttachments, userContent, type AttachmentSource } from './attachments.ts';

const message = (attachments: Attachment[]): InboundMessage => ({
  v: 1, id: 'm1', platform: 'telegram', sessionKey: 's', account: 'a', chatId: 'c', userId: 'u', kind: 'user', text: 'hi', receivedAtMs: 1, attachments,
});
const files = new Map<string, { attachment: Attachment; data: Buffer }>();
const source: AttachmentSource = { get: async (url) => files.get(url) };
const put = (a: Attachment, data: Buffer) => {
  files.set(a.url, { attachment: a, data });
  return a;
};

describe('attachments for the model', () => {
  it('leaves a message without attachments as plain text', async () => {
    expect(await userContent(message([]), 'hi', source)).toBe('hi');
  });

  it('names what it cannot show: expired files, binary "text" files, oversized or unsupported images', async () => {
    const gone: Attachment = { kind: 'image', url: 'sb-attachment:gone', mimeType: 'image/png', name: 'a.png', sizeBytes: 10 };
    const binary = put({ kind: 'document', url: 'sb-attachment:bin', mimeType: 'text/plain', name: 'x.txt', sizeBytes: 4 }, Buffer.from([0x61, 0, 0x62, 0]));
    const big = put({ kind: 'image', url: 'sb-attachment:big', mimeType: 'image/jpeg', name: 'big.jpg', sizeBytes: 2048 }, Buffer.alloc(2048));
    const tiff = put({ kind: 'image', url: 'sb-attachment:tiff', mimeType: 'image/tiff', name: 'scan.tiff', sizeBytes: 3 }, Buffer.from('abc'));
    const content = await userContent(message([gone, binary, big, tiff]), 'hi', source, { maxImageBytes: 1024 });
    expect(content).toEqual([
      {
        type: 'text',
        text: [
          'hi',
          '[attached image "a.png" (image/png, 10 B)] (no longer available)',
          '[attached document "x.txt" (text/plain, 4 B)] (its content cannot be shown to you)',
          '[attached image "big.jpg" (image/jpeg, 2 KiB)] (its content cannot be shown to you)',
          '[attached image "scan.tiff" (image/tiff, 3 B)] (its content cannot be shown to you)',
        ].join('\n'),
      },
    ]);
  });

  it('caps a text document, and the transcript keeps only the names', async () => {
    const doc = put({ kind: 'document', url: 'sb-attachment:doc', name: 'log.md', sizeBytes: 5000 }, Buffer.from('y'.repeat(5000)));
    const content = (await userContent(message([doc]), 'see', source, { maxTextBytes: 1000 })) as Array<{ type: string; text: string }>;
    expect(Buffer.byteLength(content[1]!.text)).toBeLessThanOrEqual(1000);
    expect(content[1]!.text).toContain('[content cut to fit the output limit]');
    expect(textWithAttachments(message([doc]), 'see')).toBe('see\n[attached document "log.md" (unknown type, 5 KiB)]');
  });
});
