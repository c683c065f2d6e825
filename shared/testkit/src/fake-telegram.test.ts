import { afterEach, describe, expect, it } from 'vitest';
import { startFakeTelegram, type FakeTelegram } from './fake-telegram.ts';

const TOKEN = '4242:test-token';
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function call(apiRoot: string, method: string, init: RequestInit = {}) {
  const res = await fetch(`${apiRoot}/bot${TOKEN}/${method}`, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('fake Telegram Bot API', () => {
  it('answers getMe and sendMessage in the Bot API envelope, from JSON and form bodies', async () => {
    fake = await startFakeTelegram({ token: TOKEN, username: 'my_bot' });
    expect((await call(fake.apiRoot, 'getMe')).body).toMatchObject({ ok: true, result: { id: 4242, is_bot: true, username: 'my_bot' } });
    const json = await call(fake.apiRoot, 'sendMessage', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: 7, text: 'hi' }) });
    expect(json.body).toMatchObject({ ok: true, result: { chat: { id: 7 }, text: 'hi' } });
    const form = await call(fake.apiRoot, 'sendMessage', { body: new URLSearchParams({ chat_id: '7', text: 'yo', reply_markup: '{"inline_keyboard":[]}' }) });
    expect(form.body).toMatchObject({ ok: true, result: { text: 'yo' } });
    expect(fake.succeeded('sendMessage').map((c) => c.params)).toEqual([
      { chat_id: 7, text: 'hi' },
      { chat_id: 7, text: 'yo', reply_markup: { inline_keyboard: [] } },
    ]);
  });

  it('fails on request: 429 with retry_after, 400s, wrong tokens and texts over 4096', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    fake.failNext('sendMessage', 1, { status: 429, retryAfterSeconds: 3 });
    const body = JSON.stringify({ chat_id: 1, text: 'x' });
    const headers = { 'content-type': 'application/json' };
    expect(await call(fake.apiRoot, 'sendMessage', { headers, body })).toEqual({
      status: 429,
      body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } },
    });
    expect((await call(fake.apiRoot, 'sendMessage', { headers, body })).status).toBe(200);
    expect((await call(fake.apiRoot, 'sendMessage', { headers, body: JSON.stringify({ chat_id: 1, text: 'y'.repeat(4097) }) })).status).toBe(400);
    const wrong = await fetch(`${fake.apiRoot}/bot1:nope/getMe`, { method: 'POST' });
    expect(wrong.status).toBe(401);
    expect(fake.calls).toHaveLength(4);
    expect(fake.succeeded()).toHaveLength(1);
  });

  it('keeps each chat as the bot left it: edits applied and counted, unknown or unchanged edits refused', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const headers = { 'content-type': 'application/json' };
    const sent = await call(fake.apiRoot, 'sendMessage', { headers, body: JSON.stringify({ chat_id: 7, text: 'draft …', message_thread_id: 3 }) });
    const id = (sent.body.result as { message_id: number }).message_id;
    await call(fake.apiRoot, 'sendMessage', { headers, body: JSON.stringify({ chat_id: 8, text: 'elsewhere' }) });
    const edit = (text: string, messageId = id) => call(fake!.apiRoot, 'editMessageText', { headers, body: JSON.stringify({ chat_id: 7, message_id: messageId, text, parse_mode: 'HTML' }) });
    expect((await edit('<b>final</b>')).status).toBe(200);
    expect((await edit('<b>final</b>')).body).toMatchObject({ ok: false, error_code: 400, description: expect.stringContaining('message is not modified') });
    expect((await edit('x', 99_999)).body).toMatchObject({ ok: false, description: 'Bad Request: message to edit not found' });
    expect(fake.chat(7)).toEqual([{ messageId: id, chatId: '7', threadId: 3, text: '<b>final</b>', parseMode: 'HTML', replyMarkup: undefined, edits: 1 }]);
    expect(fake.chat(7, 4)).toEqual([]);
    expect(fake.chat('8').map((m) => m.text)).toEqual(['elsewhere']);
  });

  it('serves files through getFile and the token-scoped download path', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const file = fake.addFile('hello file', { path: 'documents/a b.txt' });
    const got = await call(fake.apiRoot, 'getFile', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ file_id: file.file_id }) });
    expect(got.body).toEqual({ ok: true, result: file });
    const res = await fetch(`${fake.apiRoot}/file/bot${TOKEN}/documents/a%20b.txt`);
    expect(await res.text()).toBe('hello file');
    expect((await fetch(`${fake.apiRoot}/file/bot1:other/documents/a%20b.txt`)).status).toBe(404);
    expect((await call(fake.apiRoot, 'getFile', { body: new URLSearchParams({ file_id: 'nope' }) })).status).toBe(400);
  });

  it('long-polls getUpdates: waits up to the timeout, confirms by offset, one consumer at a time, 409 while a webhook is set', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const poll = (params: Record<string, string>) => call(fake!.apiRoot, 'getUpdates', { body: new URLSearchParams(params) });
    const started = Date.now();
    expect((await poll({ timeout: '1' })).body).toEqual({ ok: true, result: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const waiting = poll({ timeout: '10' });
    await new Promise((r) => setTimeout(r, 50));
    const id = fake.pushUpdate({ message: { message_id: 1, date: 0, chat: { id: 1, type: 'private' }, text: 'hi' } });
    expect((await waiting).body).toMatchObject({ ok: true, result: [{ update_id: id, message: { text: 'hi' } }] });
    expect(fake.unconfirmedUpdates()).toEqual([id]);
    const second = fake.pushUpdate({ message: { message_id: 2, date: 0, chat: { id: 1, type: 'private' }, text: 'again' } });
    expect(((await poll({ offset: String(id + 1), timeout: '0' })).body.result as Array<{ update_id: number }>).map((u) => u.update_id)).toEqual([second]);
    expect(fake.unconfirmedUpdates()).toEqual([second]);
    const held = poll({ offset: String(second + 1), timeout: '10' });
    await new Promise((r) => setTimeout(r, 50));
    const other = poll({ offset: String(second + 1), timeout: '0' });
    expect((await held).status).toBe(409);
    expect((await other).body).toEqual({ ok: true, result: [] });
    await call(fake.apiRoot, 'setWebhook', { body: new URLSearchParams({ url: 'https://example.test/hook' }) });
    expect(fake.webhookUrl()).toBe('https://example.test/hook');
    expect((await poll({ timeout: '0' })).status).toBe(409);
    await call(fake.apiRoot, 'deleteWebhook');
    expect((await poll({ timeout: '0' })).status).toBe(200);
  });
});
