import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment } from '@switchboard/contracts';
import { createLogger } from '@switchboard/observability';
import { memoryAttachmentStore, startRecordingHost, type RecordingHost } from '@switchboard/testkit';
import { slackFiles, SlackFileUnavailableError, type SlackFileRef } from './files.ts';

const TOKEN = 'xoxb-1111-2222-unit-files';

let slack: RecordingHost;
let other: RecordingHost;
beforeAll(async () => {
  other = await startRecordingHost((_p, res) => res.end('you should not be here'));
  slack = await startRecordingHost((path, res) => {
    if (path === '/files-pri/T-F1/a.txt') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    if (path === '/files-pri/T-F2/hop.txt') return void res.writeHead(302, { location: '/files-pri/T-F1/a.txt' }).end();
    if (path === '/files-pri/T-F3/away.txt') return void res.writeHead(302, { location: `${other.origin}/steal` }).end();
    if (path === '/files-pri/T-F4/big.bin') return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5000' }).end(Buffer.alloc(5000));
    if (path === '/files-pri/T-F5/chunked.bin') {
      // No content-length: the cap is enforced while reading.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
      return void res.end();
    }
    if (path === '/files-pri/T-F6/login.png') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html>sign in</html>');
    if (path === '/files-pri/T-F7/busy.png') return void res.writeHead(503).end();
    res.writeHead(404).end('Not Found');
  });
});
afterAll(async () => {
  await slack.close();
  await other.close();
});

const logger = createLogger({ service: 'test', level: 'silent' });
const ref = (id: string, url: string | undefined, extra: Partial<SlackFileRef> = {}): SlackFileRef => ({ id, kind: 'document', url, name: url?.split('/').pop(), ...extra });
const setup = (maxBytes = 4096) => {
  const m = memoryAttachmentStore<Omit<Attachment, 'url' | 'sizeBytes'>>(maxBytes);
  const files = slackFiles({ token: TOKEN, apiUrl: `${slack.origin}/api/`, store: m.store as never, logger });
  return { ...m, files };
};

describe('slackFiles', () => {
  it('downloads with the bot token, following a redirect on the same host, and stores the bytes', async () => {
    const { files, put } = setup();
    const before = slack.seen.length;
    const got = await files.fetch([ref('F1', `${slack.origin}/files-pri/T-F1/a.txt`, { mimeType: 'text/plain' }), ref('F2', `${slack.origin}/files-pri/T-F2/hop.txt`)]);
    expect(got.notes).toEqual([]);
    expect(got.attachments.map((a) => a.url)).toEqual([expect.stringMatching(/^sb-attachment:/), expect.stringMatching(/^sb-attachment:/)]);
    expect(put.map((p) => p.data.toString())).toEqual(['hello', 'hello']);
    expect(slack.seen.slice(before).map((s) => s.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('never sends the token to another host: not for a file URL there, not after a redirect there', async () => {
    const { files, put } = setup();
    const got = await files.fetch([
      ref('F8', `${other.origin}/files-pri/T-F8/external.txt`),
      ref('F9', 'https://docs.example.com/files-pri/T-F9/x.txt'),
      ref('F10', 'http://files.slack.com/files-pri/T-F10/plain-http.txt'),
      ref('F3', `${slack.origin}/files-pri/T-F3/away.txt`),
    ]);
    expect(got.attachments).toEqual([]);
    expect(got.notes).toEqual(['[external.txt could not be downloaded]', '[x.txt could not be downloaded]', '[plain-http.txt could not be downloaded]', '[away.txt could not be downloaded]']);
    expect(other.seen).toEqual([]);
    expect(put).toEqual([]);
  });

  it('a file over the cap becomes a note: by its declared size (no request), its content-length, or while reading', async () => {
    const { files, put } = setup(4096);
    const before = slack.seen.length;
    const got = await files.fetch([
      ref('F0', `${slack.origin}/files-pri/T-F0/declared.bin`, { name: 'declared.bin', sizeBytes: 9000 }),
      ref('F4', `${slack.origin}/files-pri/T-F4/big.bin`),
      ref('F5', `${slack.origin}/files-pri/T-F5/chunked.bin`),
    ]);
    expect(got.notes).toEqual([
      '[declared.bin was not downloaded: 9 KiB is over the 4 KiB limit]',
      '[big.bin was not downloaded: over the 4 KiB limit]',
      '[chunked.bin was not downloaded: over the 4 KiB limit]',
    ]);
    expect(put).toEqual([]);
    expect(slack.seen.slice(before).map((s) => s.path)).toEqual(['/files-pri/T-F4/big.bin', '/files-pri/T-F5/chunked.bin']);
  });

  it('gone, withheld, or a sign-in page instead of the file: a note', async () => {
    const { files } = setup();
    const got = await files.fetch([ref('F11', `${slack.origin}/files-pri/T-F11/deleted.txt`), ref('F12', undefined, { name: 'hidden.txt' }), ref('F6', `${slack.origin}/files-pri/T-F6/login.png`, { mimeType: 'image/png' })]);
    expect(got.notes).toEqual(['[deleted.txt could not be downloaded]', '[hidden.txt could not be downloaded]', '[login.png could not be downloaded]']);
  });

  it('Slack unavailable: throws for a retry while Slack waits for the ack, a note once it has it', async () => {
    const { files } = setup();
    const busy = [ref('F7', `${slack.origin}/files-pri/T-F7/busy.png`)];
    await expect(files.fetch(busy)).rejects.toBeInstanceOf(SlackFileUnavailableError);
    await expect(files.fetch(busy, () => true)).resolves.toEqual({ attachments: [], notes: ['[busy.png could not be downloaded right now]'] });
  });
});
