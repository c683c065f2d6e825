import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment } from '@switchboard/contracts';
import { trustedUrls } from '@switchboard/channels';
import { createLogger } from '@switchboard/observability';
import { memoryAttachmentStore, startRecordingHost, type RecordingHost } from '@switchboard/testkit';
import { discordFiles, DISCORD_CDN_HOSTS } from './files.ts';
import type { DiscordFileRef } from './normalize.ts';

let cdn: RecordingHost;
let other: RecordingHost;
beforeAll(async () => {
  other = await startRecordingHost((_p, res) => res.end('you should not be here'));
  cdn = await startRecordingHost((path, res) => {
    const p = path.split('?')[0];
    if (p === '/attachments/1/11/a.txt') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    if (p === '/attachments/1/12/hop.txt') return void res.writeHead(302, { location: '/attachments/1/11/a.txt' }).end();
    if (p === '/attachments/1/13/away.txt') return void res.writeHead(302, { location: `${other.origin}/steal` }).end();
    if (p === '/attachments/1/14/big.bin') return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '5000' }).end(Buffer.alloc(5000));
    if (p === '/attachments/1/15/chunked.bin') {
      // No content-length: the cap is enforced while reading.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
      return void res.end();
    }
    if (p === '/attachments/1/16/busy.png') return void res.writeHead(503).end();
    res.writeHead(404).end('Not Found');
  });
});
afterAll(async () => {
  await cdn.close();
  await other.close();
});

const logger = createLogger({ service: 'test', level: 'silent' });
const ref = (id: string, url: string, sizeBytes = 5, extra: Partial<DiscordFileRef> = {}): DiscordFileRef => ({ id, kind: 'document', url, name: url.split('?')[0]!.split('/').pop()!, sizeBytes, ...extra });
const setup = (maxBytes = 4096) => {
  const m = memoryAttachmentStore<Omit<Attachment, 'url' | 'sizeBytes'>>(maxBytes);
  return { ...m, files: discordFiles({ apiUrl: `${cdn.origin}/api`, store: m.store, logger }) };
};

describe('discordFiles', () => {
  it('downloads without credentials, following a redirect on the CDN, and stores the bytes with what Discord said of the file', async () => {
    const { files, put } = setup();
    const before = cdn.seen.length;
    const got = await files.fetch([
      ref('11', `${cdn.origin}/attachments/1/11/a.txt?ex=1&is=2&hm=3&`, 5, { mimeType: 'text/plain' }),
      ref('12', `${cdn.origin}/attachments/1/12/hop.txt`),
    ]);
    expect(got.notes).toEqual([]);
    expect(got.attachments.map((a) => a.url)).toEqual([expect.stringMatching(/^sb-attachment:/), expect.stringMatching(/^sb-attachment:/)]);
    expect(put.map((p) => [p.data.toString(), p.meta])).toEqual([
      ['hello', { kind: 'document', name: 'a.txt', mimeType: 'text/plain' }],
      ['hello', { kind: 'document', name: 'hop.txt' }],
    ]);
    expect(cdn.seen.slice(before).map((s) => s.path)).toEqual(['/attachments/1/11/a.txt?ex=1&is=2&hm=3&', '/attachments/1/12/hop.txt', '/attachments/1/11/a.txt']);
    expect(cdn.seen.slice(before).every((s) => s.headers.authorization === undefined)).toBe(true);
  });

  it('over the cap: by the declared size without a request, by Content-Length, or while reading', async () => {
    const { files, put } = setup();
    const before = cdn.seen.length;
    const got = await files.fetch([
      ref('10', `${cdn.origin}/attachments/1/10/huge.zip`, 9000),
      ref('14', `${cdn.origin}/attachments/1/14/big.bin`),
      ref('15', `${cdn.origin}/attachments/1/15/chunked.bin`),
    ]);
    expect(got).toEqual({
      attachments: [],
      notes: ['[huge.zip was not downloaded: 9 KiB is over the 4 KiB limit]', '[big.bin was not downloaded: over the 4 KiB limit]', '[chunked.bin was not downloaded: over the 4 KiB limit]'],
    });
    expect(put).toEqual([]);
    expect(cdn.seen.slice(before).map((s) => s.path)).toEqual(['/attachments/1/14/big.bin', '/attachments/1/15/chunked.bin']);
  });

  it('refuses another host and a redirect to one without a request there; a gone or failing file becomes a note', async () => {
    const { files } = setup();
    const got = await files.fetch([
      ref('20', `${other.origin}/attachments/1/20/foreign.txt`),
      ref('13', `${cdn.origin}/attachments/1/13/away.txt`),
      ref('21', 'not a url'),
      ref('22', `${cdn.origin}/attachments/1/22/gone.txt`),
      ref('16', `${cdn.origin}/attachments/1/16/busy.png`),
    ]);
    expect(got.notes).toEqual([
      '[foreign.txt could not be downloaded]',
      '[away.txt could not be downloaded]',
      '[not a url could not be downloaded]',
      '[gone.txt could not be downloaded]',
      '[busy.png could not be downloaded right now]',
    ]);
    expect(other.seen).toEqual([]);
  });

  it('trusts only Discord’s CDN hosts over https on the default port, and the API URL’s origin', () => {
    const trusted = trustedUrls(DISCORD_CDN_HOSTS, ['http://127.0.0.1:9999/api']);
    expect(trusted(new URL('https://cdn.discordapp.com/attachments/1/2/a.png?ex=1'))).toBe(true);
    expect(trusted(new URL('https://media.discordapp.net/attachments/1/2/a.png'))).toBe(true);
    expect(trusted(new URL('http://cdn.discordapp.com/attachments/1/2/a.png'))).toBe(false);
    expect(trusted(new URL('https://cdn.discordapp.com:8443/attachments/1/2/a.png'))).toBe(false);
    expect(trusted(new URL('https://cdn.discordapp.com.evil.example/a.png'))).toBe(false);
    expect(trusted(new URL('https://evil.example/cdn.discordapp.com/a.png'))).toBe(false);
    expect(trusted(new URL('http://127.0.0.1:9999/attachments/1/2/a.png'))).toBe(true);
    expect(trusted(new URL('http://127.0.0.1:9998/attachments/1/2/a.png'))).toBe(false);
  });
});
