import type { Server } from 'node:http';
import express from 'express';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import { AttachmentStore } from '@switchboard/channels';
import { laneKeys } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeWamid, signWhatsAppWebhook, startFakeWhatsApp, uniquePrefix, waitFor, whatsappMessageWebhook } from '@switchboard/testkit';
import { loadWhatsAppConfig } from './config.ts';
import { startWhatsAppService } from './service.ts';

const TOKEN = 'EAAG-service-test';
const SECRET = 'service-test-secret';
const PHONE = '106540352242922';
const USER = '16505551234';
const SESSION = `whatsapp:${PHONE}:${USER}`;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The WhatsApp service alone (no agent worker: messages stay on their lane to be inspected). */
async function setup(env: Record<string, string> = {}, prefix = uniquePrefix('wa'), journal = { staleMs: 300, sweepIntervalMs: 100 }) {
  const wa = await startFakeWhatsApp({ accessToken: TOKEN, phoneNumberId: PHONE });
  cleanups.push(() => wa.close());
  const redis = new Redis(inject('redisUrl'));
  cleanups.push(async () => void redis.disconnect());
  const registry = createRegistry({ defaultMetrics: false });
  const config = loadWhatsAppConfig({
    SWITCHBOARD_PREFIX: prefix,
    WHATSAPP_ACCESS_TOKEN: TOKEN,
    WHATSAPP_APP_SECRET: SECRET,
    WHATSAPP_API_URL: wa.apiUrl,
    WHATSAPP_PHONE_NUMBER_ID: PHONE,
    WHATSAPP_DM_POLICY: 'open',
    ...env,
  });
  const service = (await startWhatsAppService({
    config,
    logger: createLogger({ service: 'whatsapp', level: 'silent' }),
    registry,
    redisUrl: inject('redisUrl'),
    journal,
    mediaRetryDelaysMs: [50, 100, 100],
  }))!;
  cleanups.push(() => service.close());
  const app = express();
  app.use(service.router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const post = (payload: unknown) => {
    const { body, signature } = signWhatsAppWebhook(payload, SECRET);
    return fetch(`${url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });
  };
  const inbox = async (session = SESSION): Promise<InboundMessage[]> => {
    const entries = (await redis.xrange(laneKeys(prefix).inbox(session), '-', '+')) as [string, string[]][];
    return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('m') + 1]!) as InboundMessage);
  };
  return { wa, redis, registry, service, url, post, inbox, prefix };
}

const message = (m: Record<string, unknown>, from = USER, phoneNumberId = PHONE) => whatsappMessageWebhook({ phoneNumberId, from, message: { id: fakeWamid(), ...m } });
const text = (body: string, from = USER) => message({ type: 'text', text: { body } }, from);

describe('whatsapp service', () => {
  it('puts each wamid on its lane once, in delivery order, and shows typing against it', async () => {
    const { post, inbox, wa } = await setup();
    const first = text('one');
    expect((await post(first)).status).toBe(200);
    for (const t of ['two', 'three', 'four']) expect((await post(text(t))).status).toBe(200);
    expect((await post(first)).status).toBe(200); // Meta redelivers
    const msgs = await waitFor(async () => ((await inbox()).length >= 4 ? inbox() : undefined));
    await new Promise((r) => setTimeout(r, 200)); // room for a (wrong) second copy to land
    expect((await inbox()).map((m) => m.text)).toEqual(['one', 'two', 'three', 'four']);
    const wamid = (first.entry as Array<{ changes: Array<{ value: { messages: Array<{ id: string }> } }> }>)[0]!.changes[0]!.value.messages[0]!.id;
    expect(msgs[0]!.id).toBe(`wa-${wamid}`);
    await waitFor(() => wa.typing.includes(wamid));
  });

  it('downloads media into the attachment store: only an opaque reference reaches the lane, never a Graph URL or the token', async () => {
    const { post, inbox, wa, redis, prefix } = await setup();
    wa.addMedia('1003383421387256', Buffer.from('JPEG'), 'image/jpeg');
    await post(message({ type: 'image', image: { caption: 'my cat', mime_type: 'image/jpeg', sha256: 'x', id: '1003383421387256' } }));
    const [m] = await waitFor(() => inbox().then((l) => (l.length ? l : undefined)));
    expect(m!.text).toBe('my cat');
    expect(m!.attachments).toEqual([{ kind: 'image', url: expect.stringMatching(/^sb-attachment:[a-f0-9]{32}$/), mimeType: 'image/jpeg', sizeBytes: 4 }]);
    const store = new AttachmentStore(redis, prefix);
    expect((await store.get(m!.attachments![0]!.url))?.data.toString()).toBe('JPEG');
    const stored = JSON.stringify(m);
    expect(stored).not.toContain(TOKEN);
    expect(stored).not.toContain('media-download');
    expect(JSON.stringify(m!.attachments)).not.toContain('1003383421387256');
  });

  it('notes media it cannot keep (over the cap, gone at Meta) and retries one Meta fails to serve', async () => {
    const { post, inbox, wa } = await setup({ WHATSAPP_ATTACHMENT_MAX_BYTES: '1024' });
    wa.addMedia('111', Buffer.alloc(2048), 'application/pdf');
    await post(message({ type: 'document', document: { filename: 'big.pdf', mime_type: 'application/pdf', sha256: 'x', id: '111' } }));
    await post(message({ type: 'image', image: { mime_type: 'image/jpeg', sha256: 'x', id: '222' } })); // unknown to Meta: 400
    await waitFor(async () => (await inbox()).length === 2);
    wa.addMedia('333', Buffer.from('OGG'), 'audio/ogg');
    // Meta fails once: the download is tried again.
    wa.failNext('media', 1, { status: 500, code: 1, message: 'An unknown error occurred' });
    await post(message({ type: 'audio', audio: { mime_type: 'audio/ogg', sha256: 'x', id: '333', voice: true } }));
    const msgs = await waitFor(async () => ((await inbox()).length === 3 ? inbox() : undefined), { timeoutMs: 8000 });
    expect(msgs.map((m) => m.text)).toEqual([
      '[document: big.pdf]\n[big.pdf was not downloaded: over the 1 KiB limit]',
      '[image]\n[image could not be downloaded]',
      '[voice message]',
    ]);
    expect(msgs[0]!.attachments).toBeUndefined();
    expect(msgs[2]!.attachments).toEqual([expect.objectContaining({ kind: 'audio', sizeBytes: 3 })]);
  });

  it("keeps a sender's order when Meta will not serve a message's media: that message goes on with a note, before the next", async () => {
    const { post, inbox, wa } = await setup();
    wa.addMedia('444', Buffer.from('JPEG'), 'image/jpeg');
    wa.failNext('media', 20, { status: 503, code: 2, message: 'Service temporarily unavailable' });
    await post(message({ type: 'image', image: { caption: 'look', mime_type: 'image/jpeg', sha256: 'x', id: '444' } }));
    await post(text('what do you think?'));
    const msgs = await waitFor(async () => ((await inbox()).length === 2 ? inbox() : undefined), { timeoutMs: 8000 });
    expect(msgs.map((m) => m.text)).toEqual(['look\n[image could not be downloaded: WhatsApp did not serve it; it may be sent again]', 'what do you think?']);
    expect(msgs[0]!.attachments).toBeUndefined();
  });

  it('handles a delivery acknowledged by a replica that died before handling it', async () => {
    const { service, inbox, registry } = await setup();
    // What a crashed replica leaves behind: a journaled body, never processed.
    await service.processor.journal.add(signWhatsAppWebhook(text('survived a crash'), SECRET).body);
    await waitFor(async () => (await inbox()).some((m) => m.text === 'survived a crash'), { timeoutMs: 5000 });
    await waitFor(async () => (await service.processor.journal.size()) === 0);
    expect(await registry.metrics()).toMatch(/switchboard_channel_unhandled_deliveries\{platform="whatsapp"\} 0/);
  });

  it('does not hand a delivery to another replica while this one is still handling it (a slow media download is fetched once)', async () => {
    // Only the other replica sweeps, so it is the one that would take the delivery over.
    const { post, inbox, wa, prefix } = await setup({}, undefined, { staleMs: 300, sweepIntervalMs: 0 });
    const other = await setup({}, prefix);
    // The download takes four times the journal's stale age (300 ms in these tests).
    wa.addMedia('555', Buffer.from('SLOWJPEG'), 'image/jpeg', 1200);
    await post(message({ type: 'image', image: { caption: 'slow one', mime_type: 'image/jpeg', sha256: 'x', id: '555' } }));
    await waitFor(async () => (await inbox()).length === 1, { timeoutMs: 8000 });
    await new Promise((r) => setTimeout(r, 500)); // room for a (wrong) second handling to finish
    expect([...wa.calls, ...other.wa.calls].filter((c) => c.method === 'GET' && c.path === '/555')).toHaveLength(1);
    expect((await inbox()).map((m) => m.text)).toEqual(['slow one']);
  });

  it('ignores statuses, other business numbers and unsupported types without touching a lane', async () => {
    const { post, inbox, registry } = await setup();
    const statuses = text('x');
    const value = (statuses.entry as Array<{ changes: Array<{ value: Record<string, unknown> }> }>)[0]!.changes[0]!.value;
    delete value.messages;
    value.statuses = [{ id: 'wamid.out', status: 'failed', timestamp: '1', recipient_id: USER, errors: [{ code: 131047, title: 'Re-engagement message' }] }];
    expect((await post(statuses)).status).toBe(200);
    expect((await post(message({ type: 'text', text: { body: 'not ours' } }, USER, '999999'))).status).toBe(200);
    expect((await post(message({ type: 'sticker', sticker: { id: '5', mime_type: 'image/webp' } }))).status).toBe(200);
    await post(text('marker'));
    await waitFor(async () => (await inbox()).length === 1);
    expect((await inbox()).map((m) => m.text)).toEqual(['marker']);
    await waitFor(async () => /switchboard_channel_updates_total\{platform="whatsapp",outcome="ignored"\} 2/.test(await registry.metrics()));
  });

  it('pairing: an unknown sender gets one code however often they write or Meta redelivers, and is told when approved', async () => {
    const { post, inbox, wa, url } = await setup({ WHATSAPP_DM_POLICY: 'pairing' });
    const hello = text('let me in', '15557654321');
    await post(hello);
    await post(hello);
    await post(text('please', '15557654321'));
    const codeMsg = await waitFor(() => wa.sent.find((m) => m.to === '15557654321' && /pairing code is/.test(m.text)));
    await new Promise((r) => setTimeout(r, 200));
    expect(wa.sent.filter((m) => m.to === '15557654321')).toHaveLength(1);
    expect(await inbox(`whatsapp:${PHONE}:15557654321`)).toEqual([]);
    const code = /pairing code is ([A-Z0-9]+)/.exec(codeMsg.text)![1]!;
    expect((await fetch(`${url}/admin/whatsapp/pairings/${code}/approve`, { method: 'POST' })).status).toBe(200);
    await waitFor(() => wa.sent.some((m) => m.to === '15557654321' && m.text.includes('You are approved')));
  });

  it('without WHATSAPP_PHONE_NUMBER_ID: serves the number each delivery names, answers pairings from it, and checks the token for readiness', async () => {
    const { post, wa, url, service } = await setup({ WHATSAPP_PHONE_NUMBER_ID: '', WHATSAPP_DM_POLICY: 'pairing' });
    await post(text('hello', '15550009999'));
    const codeMsg = await waitFor(() => wa.sent.find((m) => m.to === '15550009999'));
    const code = /pairing code is ([A-Z0-9]+)/.exec(codeMsg.text)![1]!;
    expect((await fetch(`${url}/admin/whatsapp/pairings/${code}/approve`, { method: 'POST' })).status).toBe(200);
    await waitFor(() => wa.sent.some((m) => m.to === '15550009999' && m.text.includes('You are approved')));
    await service.readiness.whatsapp!();
    expect(wa.calls.some((c) => c.method === 'GET' && c.path === '/me')).toBe(true);
  });

  it('readiness checks the configured number on the Graph API, and fails while the token is refused', async () => {
    const { service, wa } = await setup();
    await service.readiness.whatsapp!();
    expect(wa.calls.some((c) => c.method === 'GET' && c.path === `/${PHONE}`)).toBe(true);
    const other = await setup({ WHATSAPP_ACCESS_TOKEN: 'revoked' });
    await expect(other.service.readiness.whatsapp!()).rejects.toThrow(/190/);
  });
});
