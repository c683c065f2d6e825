import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelAccess, channelMetrics } from '@switchboard/channels';
import { createLogger, createRegistry } from '@switchboard/observability';
import { signWhatsAppWebhook, whatsappMessageWebhook } from '@switchboard/testkit';
import { GraphApi } from './graph-api.ts';
import type { JournalEntry } from './journal.ts';
import type { WebhookProcessor } from './processor.ts';
import { whatsappRouter } from './webhook.ts';

const SECRET = 'app-secret-xyz';
const VERIFY = 'verify-token-abc';
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** The router with a recording stand-in for the journal and processor (no Redis, no Graph API calls). */
async function setup(opts: { appSecret?: string; verifyToken?: string; journalFails?: boolean } = {}) {
  const registry = createRegistry({ defaultMetrics: false });
  const recorded: string[] = [];
  const processed: JournalEntry[] = [];
  const processor = {
    journal: {
      add: async (body: string) => {
        if (opts.journalFails) throw new Error('redis down');
        recorded.push(body);
        return { id: `j${recorded.length}`, body };
      },
    },
    process: (entry: JournalEntry) => void processed.push(entry),
  } as unknown as WebhookProcessor;
  const router = whatsappRouter({
    api: new GraphApi({ baseUrl: 'http://127.0.0.1:1/v21.0', accessToken: 't' }),
    appSecret: 'appSecret' in opts ? opts.appSecret : SECRET,
    verifyToken: 'verifyToken' in opts ? opts.verifyToken : VERIFY,
    access: new ChannelAccess({ redis: {} as Redis, prefix: 'x', platform: 'whatsapp', account: 'all', policy: 'open', allowFrom: [], pairingTtlSeconds: 60 }),
    metrics: channelMetrics(registry),
    logger: createLogger({ service: 'whatsapp', level: 'silent' }),
    processor,
    accountFor: async () => undefined,
  });
  const app = express();
  app.use(router);
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/webhooks/whatsapp`;
  const post = (body: string, signature?: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature !== undefined ? { 'x-hub-signature-256': signature } : {}) }, body });
  return { url, post, recorded, processed, registry };
}

const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const payload = (text: string) => whatsappMessageWebhook({ phoneNumberId: '106540352242922', from: '16505551234', message: { id: 'wamid.abc', type: 'text', text: { body: text } } });

describe('GET /webhooks/whatsapp (verification handshake)', () => {
  it('echoes hub.challenge for the right verify token, as text', async () => {
    const { url } = await setup();
    const res = await fetch(`${url}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1158201444');
  });

  it('answers 403 to a wrong token, a wrong mode, a missing token, or when no token is configured', async () => {
    const { url } = await setup();
    for (const q of [`hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1`, `hub.mode=unsubscribe&hub.verify_token=${VERIFY}&hub.challenge=1`, `hub.mode=subscribe&hub.challenge=1`]) {
      const res = await fetch(`${url}?${q}`);
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain('1158');
    }
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    const unset = await setup({ verifyToken: undefined });
    expect((await fetch(`${unset.url}?hub.mode=subscribe&hub.verify_token=&hub.challenge=1`)).status).toBe(403);
  });
});

describe('POST /webhooks/whatsapp', () => {
  it('accepts the exact bytes Meta signed (non-ASCII escaped), records them and acknowledges', async () => {
    const { post, recorded, processed } = await setup();
    const { body, signature } = signWhatsAppWebhook(payload('héllo 👋'), SECRET);
    expect(body).toContain('h\\u00e9llo');
    const res = await post(body, signature);
    expect(res.status).toBe(200);
    expect(recorded).toEqual([body]);
    expect(processed).toHaveLength(1);
  });

  it('refuses a missing, wrong, re-serialized or differently-keyed signature with 401 and records nothing', async () => {
    const { post, recorded, registry } = await setup();
    const { body, signature } = signWhatsAppWebhook(payload('héllo'), SECRET);
    expect((await post(body)).status).toBe(401);
    expect((await post(body, 'sha256=')).status).toBe(401);
    expect((await post(body, sign(body, 'other-secret'))).status).toBe(401);
    expect((await post(body, signature.replace('sha256=', 'sha1='))).status).toBe(401);
    expect((await post(body, signature.toUpperCase())).status).toBe(401);
    // The same JSON serialized differently (unescaped UTF-8) is not what was signed.
    expect((await post(JSON.stringify(payload('héllo')), signature)).status).toBe(401);
    // A tampered body under the original signature.
    expect((await post(body.replace('h\\u00e9llo', 'hallo'), signature)).status).toBe(401);
    const res = await post(body, 'garbage');
    expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: 'missing or wrong X-Hub-Signature-256', type: 'invalid_request_error' } });
    expect(recorded).toEqual([]);
    expect(await registry.metrics()).toMatch(/switchboard_channel_updates_total\{platform="whatsapp",outcome="unauthorized"\} 8/);
  });

  it('refuses everything with 503 while no app secret is configured', async () => {
    const { post, recorded } = await setup({ appSecret: undefined });
    const { body, signature } = signWhatsAppWebhook(payload('x'), SECRET);
    expect((await post(body, signature)).status).toBe(503);
    expect(recorded).toEqual([]);
  });

  it('rejects a signed payload that is not a Cloud API webhook with 400, counted, nothing recorded', async () => {
    const { post, recorded, registry } = await setup();
    for (const body of ['not json', JSON.stringify({ object: 'whatsapp_business_account', entry: 'x' })]) {
      const res = await post(body, sign(body));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
    }
    expect(recorded).toEqual([]);
    expect(await registry.metrics()).toMatch(/switchboard_inbound_messages_total\{platform="whatsapp",outcome="rejected"\} 2/);
  });

  it('acknowledges another product\'s object without recording it', async () => {
    const { post, recorded } = await setup();
    const body = JSON.stringify({ object: 'page', entry: [] });
    expect((await post(body, sign(body))).status).toBe(200);
    expect(recorded).toEqual([]);
  });

  it('does not journal a statuses-only delivery (one arrives for every message sent)', async () => {
    const { post, recorded, processed } = await setup();
    const p = payload('x');
    const value = (p.entry as Array<{ changes: Array<{ value: Record<string, unknown> }> }>)[0]!.changes[0]!.value;
    delete value.messages;
    value.statuses = [{ id: 'wamid.out', status: 'delivered', timestamp: '1', recipient_id: '16505551234' }];
    const { body, signature } = signWhatsAppWebhook(p, SECRET);
    expect((await post(body, signature)).status).toBe(200);
    expect(recorded).toEqual([]);
    expect(processed).toEqual([undefined]);
  });

  it('answers 500 when the delivery cannot be recorded, so Meta delivers it again', async () => {
    const { post, processed } = await setup({ journalFails: true });
    const { body, signature } = signWhatsAppWebhook(payload('x'), SECRET);
    expect((await post(body, signature)).status).toBe(500);
    expect(processed).toEqual([]);
  });
});
