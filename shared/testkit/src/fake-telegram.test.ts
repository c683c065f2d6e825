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
});
