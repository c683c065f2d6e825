import { afterEach, describe, expect, it } from 'vitest';
import { approvalAction, type ChatTarget } from '@switchboard/channels';
import { freePort, startFakeWhatsApp, type FakeWhatsApp } from '@switchboard/testkit';
import { GraphApi, GraphApiError, GraphUnreachableError } from './graph-api.ts';
import { approvalBody, classifyWhatsAppError, whatsappSender } from './outbound-worker.ts';

const TOKEN = 'EAAG-token';
const PHONE = '106540352242922';
let wa: FakeWhatsApp | undefined;
afterEach(async () => {
  await wa?.close();
  wa = undefined;
});
async function setup() {
  wa = await startFakeWhatsApp({ accessToken: TOKEN, phoneNumberId: PHONE });
  return { wa, api: new GraphApi({ baseUrl: wa.apiUrl, accessToken: TOKEN, timeoutMs: 2000 }) };
}
const target: ChatTarget = { account: PHONE, chatId: '16505551234' };

describe('GraphApi', () => {
  it('sends a text quoting a message and returns the wamid', async () => {
    const { wa, api } = await setup();
    const res = await api.sendText(PHONE, '16505551234', 'hi *there*', 'wamid.q');
    expect(res.messages[0]!.id).toMatch(/^wamid\./);
    expect(wa.calls[0]).toMatchObject({ method: 'POST', path: `/${PHONE}/messages`, token: TOKEN, body: { messaging_product: 'whatsapp', to: '16505551234', type: 'text', text: { body: 'hi *there*' }, context: { message_id: 'wamid.q' } } });
  });

  it('turns the error envelope into a GraphApiError with code, subcode and trace id', async () => {
    const { wa, api } = await setup();
    wa.failNext('message', 1, { code: 131047, message: 'Re-engagement message', subcode: 2494010 });
    const err = await api.sendText(PHONE, '16505551234', 'late').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphApiError);
    expect(err).toMatchObject({ status: 400, code: 131047, subcode: 2494010, fbtraceId: expect.stringMatching(/^A/) });
    expect(classifyWhatsAppError(err)).toMatchObject({ kind: 'permanent' });
    const badToken = await new GraphApi({ baseUrl: wa.apiUrl, accessToken: 'wrong' }).me().catch((e: unknown) => e);
    expect(badToken).toMatchObject({ status: 401, code: 190 });
  });

  it('says when Meta cannot be reached', async () => {
    const api = new GraphApi({ baseUrl: `http://127.0.0.1:${await freePort()}/v21.0`, accessToken: TOKEN, timeoutMs: 500 });
    const err = await api.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphUnreachableError);
    expect(classifyWhatsAppError(err)).toMatchObject({ kind: 'transient' });
  });

  it('downloads media with the token, resolving the id first', async () => {
    const { wa, api } = await setup();
    wa.addMedia('1003383421387256', Buffer.from('JPEGDATA'), 'image/jpeg');
    const got = await api.downloadMedia('1003383421387256', 1024);
    expect(got).toEqual({ bytes: Buffer.from('JPEGDATA'), mimeType: 'image/jpeg' });
    expect(await api.downloadMedia('1003383421387256', 4)).toBe('too_big');
    expect(() => api.getMedia('../me')).toThrow(RangeError);
  });

  it('shows typing against an inbound message (and marks it read)', async () => {
    const { wa, api } = await setup();
    await api.typing(PHONE, 'wamid.in');
    expect(wa.typing).toEqual(['wamid.in']);
    expect(wa.calls[0]!.body).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.in', typing_indicator: { type: 'text' } });
  });
});

describe('WhatsApp sender', () => {
  it('backs off exponentially on rate limits, 131056 starting 6× higher, a Retry-After winning', async () => {
    const { wa, api } = await setup();
    const sender = whatsappSender(api, { baseBackoffMs: 100 });
    wa.failNext('message', 3, { status: 429, code: 130429 });
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const err = await sender.send(target, 'x', { index: 0, replyTo: [] }).catch((e: unknown) => e);
      const f = sender.classify(err);
      if (f.kind !== 'rate_limited') throw new Error(`expected a rate limit, got ${f.kind}`);
      waits.push(f.retryAfterMs);
    }
    expect(waits).toEqual([100, 200, 400]);
    await sender.send(target, 'ok now', { index: 0, replyTo: [] });
    wa.failNext('message', 1, { code: 131056, message: '(#131056) (Business Account, Consumer Account) pair rate limit hit' });
    expect(sender.classify(await sender.send(target, 'x', { index: 0, replyTo: [] }).catch((e: unknown) => e))).toEqual({ kind: 'rate_limited', retryAfterMs: 600 });
    wa.failNext('message', 1, { status: 429, code: 130429, retryAfterSeconds: 2 });
    expect(sender.classify(await sender.send(target, 'x', { index: 0, replyTo: [] }).catch((e: unknown) => e))).toEqual({ kind: 'rate_limited', retryAfterMs: 2000 });
  });

  it('quotes the message it answers and sends approval prompts as Approve/Deny reply buttons within the limits', async () => {
    const { wa, api } = await setup();
    const sender = whatsappSender(api, { baseBackoffMs: 100 });
    await sender.send(target, 'answer', { index: 0, replyTo: ['wa-wamid.first', 'wa-wamid.second'] });
    expect(wa.sent[0]).toMatchObject({ text: 'answer', quote: 'wamid.second' });
    const id = `ap_${'a'.repeat(32)}`;
    const notice = { id, turnId: 't1', sessionKey: 'whatsapp:1:2', platform: 'whatsapp', account: PHONE, chatId: target.chatId, tool: 'shell', arguments: { command: 'x'.repeat(5000) } };
    await sender.sendApproval(target, notice);
    const prompt = wa.sent[1]!;
    expect(prompt.type).toBe('interactive');
    expect(prompt.text.length).toBeLessThanOrEqual(1024);
    expect(prompt.text).toContain('*shell*');
    expect(prompt.buttons).toEqual([
      { id: approvalAction(id, 'approve'), title: 'Approve' },
      { id: approvalAction(id, 'deny'), title: 'Deny' },
    ]);
    expect(approvalBody({ ...notice, arguments: { a: 1 } })).toBe('The assistant wants to run *shell*:\n```{\n  "a": 1\n}```');
  });

  it('classifies server failures as transient and bad requests as permanent', async () => {
    const { wa, api } = await setup();
    const sender = whatsappSender(api, { baseBackoffMs: 100 });
    wa.failNext('message', 1, { status: 500, code: 131000, message: 'Something went wrong' });
    expect(sender.classify(await sender.send(target, 'x', { index: 0, replyTo: [] }).catch((e: unknown) => e))).toMatchObject({ kind: 'transient' });
    const tooLong = await sender.send(target, 'y'.repeat(5000), { index: 0, replyTo: [] }).catch((e: unknown) => e);
    expect(sender.classify(tooLong)).toMatchObject({ kind: 'permanent', reason: expect.stringContaining('code 100') });
  });
});
