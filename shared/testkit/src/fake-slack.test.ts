import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders, startFakeSlack, type FakeSlack } from './fake-slack.ts';

let slack: FakeSlack;
beforeAll(async () => {
  slack = await startFakeSlack({ token: 'xoxb-fake-1' });
});
afterAll(async () => {
  await slack.close();
});

const call = (method: string, form: Record<string, string>, token = 'xoxb-fake-1') =>
  fetch(`${slack.apiUrl}${method}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });

describe('fake Slack Web API', () => {
  it("answers in Slack's envelope: ok true, ok false with an error, 429 with Retry-After", async () => {
    expect(await (await call('auth.test', {})).json()).toMatchObject({ ok: true, team_id: slack.teamId, user_id: slack.botUserId, bot_id: slack.botId });
    expect(await (await call('auth.test', {}, 'xoxb-wrong')).json()).toEqual({ ok: false, error: 'invalid_auth' });
    expect(await (await call('chat.postMessage', { channel: 'nope', text: 'x' })).json()).toEqual({ ok: false, error: 'channel_not_found' });
    slack.rateLimitSends(1, 3);
    const limited = await call('chat.postMessage', { channel: 'C0FAKE0001', text: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
  });

  it('keeps messages as they stand after edits, per channel and thread', async () => {
    const posted = (await (await call('chat.postMessage', { channel: 'C0FAKE0002', text: 'draft', thread_ts: '1.000001' })).json()) as { ts: string };
    await call('chat.update', { channel: 'C0FAKE0002', ts: posted.ts, text: 'final' });
    expect(slack.messages('C0FAKE0002', '1.000001').map((m) => [m.text, m.edits])).toEqual([['final', 1]]);
    expect(await (await call('chat.update', { channel: 'C0FAKE0002', ts: '9.9', text: 'x' })).json()).toEqual({ ok: false, error: 'message_not_found' });
    expect(await (await call('chat.delete', { channel: 'C0FAKE0002', ts: posted.ts })).json()).toMatchObject({ ok: true });
    expect(slack.messages('C0FAKE0002')).toEqual([]);
    expect(await (await call('chat.delete', { channel: 'C0FAKE0002', ts: posted.ts })).json()).toEqual({ ok: false, error: 'message_not_found' });
  });

  it('serves uploaded files with the bot token only: 401 without or with another token, 404 once deleted', async () => {
    const file = slack.files.addFile('hello file', { name: 'a b.txt', mimetype: 'text/plain' });
    expect(file).toMatchObject({ name: 'a b.txt', mimetype: 'text/plain', size: 10, mode: 'hosted' });
    const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const ok = await get(file.url_private_download, 'xoxb-fake-1');
    expect([ok.status, ok.headers.get('content-type'), await ok.text()]).toEqual([200, 'text/plain', 'hello file']);
    expect((await get(file.url_private, 'xoxb-fake-1')).status).toBe(200);
    expect((await get(file.url_private)).status).toBe(401);
    expect((await get(file.url_private, 'xoxb-wrong')).status).toBe(401);
    slack.files.removeFile(file.id);
    expect((await get(file.url_private, 'xoxb-fake-1')).status).toBe(404);
    expect(slack.files.requests.map((q) => [q.token, q.status])).toEqual([
      ['xoxb-fake-1', 200],
      ['xoxb-fake-1', 200],
      [undefined, 401],
      ['xoxb-wrong', 401],
      ['xoxb-fake-1', 404],
    ]);
  });

  it('signs like Slack', () => {
    const h = slackSignatureHeaders('s3cret', 'body', 1_700_000_000);
    expect(h).toEqual({ 'x-slack-request-timestamp': '1700000000', 'x-slack-signature': `v0=${createHmac('sha256', 's3cret').update('v0:1700000000:body').digest('hex')}` });
  });
});
