import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { fakeWamid, signWhatsAppWebhook, startFakeWhatsApp, waitFor, whatsappMessageWebhook, type FakeScript, type FakeWhatsApp } from '@switchboard/testkit';
import { loadWhatsAppConfig, startWhatsAppService, type WhatsAppService } from '@switchboard/whatsapp';
import { startTestSystem, type TestSystem } from '../support/system.ts';
import { channelContract, type ChannelHarness, type ChannelRig, type Delivery, type HarnessOptions } from './contract.ts';

const WA = {
  token: 'EAAG-test-access-token',
  appSecret: 'test-app-secret-0123456789',
  verifyToken: 'verify-me-please',
  phoneNumberId: '106540352242922',
  display: '15550001234',
  alice: '15551110001',
  bob: '15551110002',
};

/** A running WhatsApp rig: the one-process core, the WhatsApp service on its own port, and a fake Graph API. */
interface WhatsAppRig extends ChannelRig {
  t: TestSystem;
  wa: FakeWhatsApp;
  service: WhatsAppService;
  url: string;
  /** Posts a webhook body signed with `secret` (default the app secret; null: no signature header). */
  post(payload: unknown, secret?: string | null): Promise<Response>;
  /** Posts exactly these bytes, signed with `secret`. */
  postRaw(body: string, secret?: string | null): Promise<Response>;
  /** A message from `from` in Meta's webhook shape; returns the delivery and the message's wamid. */
  send(from: string, message: Record<string, unknown>): Promise<{ res: Delivery; wamid: string }>;
}

/** Starts the rig; extra env reaches both the core and the WhatsApp service. */
async function startWhatsAppRig(opts: HarnessOptions = {}): Promise<WhatsAppRig> {
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  };
  try {
    const env = { QUEUED_PLATFORMS: 'whatsapp', ...opts.env };
    const t = await startTestSystem({ env });
    cleanups.push(() => t.stop());
    if (opts.script) t.model.setScript(opts.script);
    const wa = await startFakeWhatsApp({ accessToken: WA.token, phoneNumberId: WA.phoneNumberId, displayPhoneNumber: WA.display });
    cleanups.push(() => wa.close());
    const registry = createRegistry({ defaultMetrics: false });
    const config = loadWhatsAppConfig({
      REDIS_URL: inject('redisUrl'),
      SWITCHBOARD_PREFIX: t.prefix,
      WHATSAPP_ACCESS_TOKEN: WA.token,
      WHATSAPP_APP_SECRET: WA.appSecret,
      WHATSAPP_VERIFY_TOKEN: WA.verifyToken,
      WHATSAPP_API_URL: wa.apiUrl,
      WHATSAPP_PHONE_NUMBER_ID: WA.phoneNumberId,
      WHATSAPP_CHAT_INTERVAL_MS: '20',
      // Meta sends no Retry-After: the service backs off from this base, doubling per rate-limit answer.
      WHATSAPP_RATE_LIMIT_BACKOFF_MS: '100',
      ...env,
    });
    const service = (await startWhatsAppService({
      config,
      logger: createLogger({ service: 'whatsapp', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      registry,
      redisUrl: inject('redisUrl'),
      journal: { staleMs: 500, sweepIntervalMs: 200 },
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

    let last: { body: string; signature: string | undefined } | undefined;
    const deliver = async (body: string, signature: string | undefined): Promise<Response> =>
      fetch(`${url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature ? { 'x-hub-signature-256': signature } : {}) }, body });
    const postRaw = (body: string, secret: string | null = WA.appSecret) => {
      last = { body, signature: secret === null ? undefined : `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
      return deliver(last.body, last.signature);
    };
    // Serialized the way Meta does (non-ASCII escaped), then signed over those exact bytes.
    const post = (payload: unknown, secret: string | null = WA.appSecret) => postRaw(signWhatsAppWebhook(payload, WA.appSecret).body, secret);
    const senderOf = new Map<string, string>();
    const send = async (from: string, message: Record<string, unknown>) => {
      const wamid = fakeWamid();
      senderOf.set(wamid, from);
      const res = await post(whatsappMessageWebhook({ phoneNumberId: WA.phoneNumberId, displayPhoneNumber: WA.display, from, message: { id: wamid, ...message } }));
      return { res: { status: res.status }, wamid };
    };
    const texts = (to: string) => wa.sent.filter((m) => m.to === to && m.type === 'text').map((m) => m.text);
    return {
      t,
      wa,
      service,
      url,
      post,
      postRaw,
      send,
      system: t,
      registry,
      dm: async (user, text) => (await send(user, { type: 'text', text: { body: text } })).res,
      group: () => Promise.reject(new Error('the WhatsApp Cloud API has no group chats (DMs only); there is no group payload to deliver')),
      redeliverLast: async () => ({ status: (await deliver(last!.body, last!.signature)).status }),
      forged: async (user, text) => {
        const payload = whatsappMessageWebhook({ phoneNumberId: WA.phoneNumberId, from: user, message: { id: fakeWamid(), type: 'text', text: { body: text } } });
        return { status: (await post(payload, 'not-the-app-secret')).status };
      },
      malformed: async () => ({
        status: (await post({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: {} } }] }] })).status,
      }),
      said: (where) => (where === 'group' ? [] : texts(where.dm)),
      sendCalls: () => wa.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages') && c.body.status !== 'read').length,
      rateLimitNext: (n) => wa.failNext('message', n, { status: 429, code: 130429, message: '(#130429) Rate limit hit' }),
      approvalPrompts: () =>
        wa.sent
          .filter((m) => m.type === 'interactive')
          .map((m) => ({
            text: m.text,
            press: async (user: string, choice: 'approve' | 'deny') => {
              const button = m.buttons.find((b) => b.title.toLowerCase() === choice)!;
              return (await send(user, { type: 'interactive', context: { from: WA.display, id: m.wamid }, interactive: { type: 'button_reply', button_reply: button } })).res;
            },
          })),
      // The Cloud API cannot edit a sent message: there is no edit call to count.
      edits: () => 0,
      typings: (where) => (where === 'group' ? 0 : wa.typing.filter((wamid) => senderOf.get(wamid) === where.dm).length),
      approvePairing: async (code) => (await fetch(`${url}/admin/whatsapp/pairings/${code}/approve`, { method: 'POST' })).status,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const harness: ChannelHarness = {
  platform: 'whatsapp',
  messageLimit: 4096,
  codeBalanced: (part) => (part.match(/```/g) ?? []).length % 2 === 0,
  lacks: { edits: true, groups: true },
  users: { alice: WA.alice, bob: WA.bob },
  start: startWhatsAppRig,
};

channelContract(harness);

/*
 * Beyond the shared contract. The harness declares what the Cloud API lacks by design: message edits
 * (so a reply streams as a typing indicator, then arrives whole) and group chats (DMs only).
 */
describe('whatsapp specifics', () => {
  const rigs: WhatsAppRig[] = [];
  afterEach(async () => {
    while (rigs.length) await rigs.pop()!.close();
  });
  const start = async (opts: HarnessOptions = {}) => {
    const r = await startWhatsAppRig({ ...opts, env: { WHATSAPP_DM_POLICY: 'open', ...opts.env } });
    rigs.push(r);
    return r;
  };

  it('shows typing against the message while the turn runs, then quotes it in the one reply', async () => {
    const r = await start({ script: () => ({ text: 'slow **answer**', chunkSize: 4, chunkDelayMs: 50 }) });
    const { wamid } = await r.send(WA.alice, { type: 'text', text: { body: 'hi' } });
    const reply = await waitFor(() => r.wa.sent.find((m) => m.to === WA.alice));
    expect(reply).toMatchObject({ type: 'text', text: 'slow *answer*', quote: wamid });
    expect(r.wa.typing).toContain(wamid);
    const typingAt = r.wa.calls.find((c) => c.body.status === 'read')!.atMs;
    const sentAt = r.wa.calls.find((c) => c.body.type === 'text')!.atMs;
    expect(typingAt).toBeLessThan(sentAt);
  });

  it('a button press from another number, or pressed twice, decides nothing more', async () => {
    const script: FakeScript = (body) => {
      const last = body.messages[body.messages.length - 1]!;
      if (last.role === 'user' && JSON.stringify(last.content).includes('marker')) return { text: 'marker seen' };
      return last.role === 'tool' ? { text: 'tool ran' } : { toolCalls: [{ id: 'c1', name: 'echo', arguments: { text: 'x' } }] };
    };
    const r = await start({ env: { TOOLS_ASK: 'echo' }, script });
    await r.dm(WA.alice, 'go');
    const [prompt] = await waitFor(() => (r.approvalPrompts().length ? r.approvalPrompts() : undefined), { timeoutMs: 20_000 });
    // bob's press arrives in bob's own chat: not the session the request belongs to.
    await prompt!.press(WA.bob, 'approve');
    await waitFor(() => r.wa.sent.some((m) => m.to === WA.bob && m.text.includes('no longer valid')));
    const press = r.wa.sent.find((m) => m.type === 'interactive')!;
    const pressed = await r.send(WA.alice, { type: 'interactive', context: { from: WA.display, id: press.wamid }, interactive: { type: 'button_reply', button_reply: press.buttons[1]! } });
    expect(pressed.res.status).toBe(200);
    await waitFor(() => r.said({ dm: WA.alice }).some((t) => t.startsWith('Denied')));
    await waitFor(() => r.said({ dm: WA.alice }).includes('tool ran'), { timeoutMs: 20_000 });
    await r.redeliverLast();
    // One sender's deliveries are handled in order: once this one is answered, the redelivery was handled.
    await r.dm(WA.alice, 'marker');
    await waitFor(() => r.said({ dm: WA.alice }).includes('marker seen'), { timeoutMs: 20_000 });
    expect(r.said({ dm: WA.alice }).filter((t) => t.startsWith('Denied') || t.startsWith('Already'))).toEqual(['Denied: *echo*']);
  });
});

describe('whatsapp in the one-process system', () => {
  it('serves the handshake and the webhook on the system port and replies through the Graph API', async () => {
    const wa = await startFakeWhatsApp({ accessToken: WA.token, phoneNumberId: WA.phoneNumberId, displayPhoneNumber: WA.display });
    const t = await startTestSystem({
      env: {
        QUEUED_PLATFORMS: 'whatsapp',
        WHATSAPP_ACCESS_TOKEN: WA.token,
        WHATSAPP_APP_SECRET: WA.appSecret,
        WHATSAPP_VERIFY_TOKEN: WA.verifyToken,
        WHATSAPP_API_URL: wa.apiUrl,
        WHATSAPP_PHONE_NUMBER_ID: WA.phoneNumberId,
        WHATSAPP_DM_POLICY: 'open',
      },
    });
    try {
      const challenge = await fetch(`${t.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${WA.verifyToken}&hub.challenge=42`);
      expect(await challenge.text()).toBe('42');
      const { body, signature } = signWhatsAppWebhook(whatsappMessageWebhook({ phoneNumberId: WA.phoneNumberId, from: WA.alice, message: { id: fakeWamid(), type: 'text', text: { body: 'über alles' } } }), WA.appSecret);
      const res = await fetch(`${t.url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });
      expect(res.status).toBe(200);
      await waitFor(() => wa.sent.some((m) => m.to === WA.alice && m.text.includes('über alles')), { timeoutMs: 20_000 });
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await fetch(`${t.url}/metrics`).then((m) => m.text())).toMatch(/switchboard_channel_sends_total\{platform="whatsapp",outcome="sent"\} 1/);
    } finally {
      await t.stop();
      await wa.close();
    }
  });
});
