import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTelegram, waitFor, type FakeTelegram } from '@switchboard/testkit';
import { collectEvents, postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/*
 * A schedule's run happens in one session (its own isolated one by default) and its answer is
 * delivered to a chosen channel and chat: here a Telegram chat (fake Bot API, real grammY client in
 * the real Telegram service) and another web session.
 */
const TOKEN = '777002:delivery-test-token';
let t: TestSystem;
let tg: FakeTelegram;

beforeAll(async () => {
  tg = await startFakeTelegram({ token: TOKEN });
  t = await startTestSystem({
    env: { QUEUED_PLATFORMS: 'telegram', TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_ROOT: tg.apiRoot, TELEGRAM_WEBHOOK_SECRET: 'delivery-secret', TELEGRAM_CHAT_INTERVAL_MS: '0' },
  });
  t.model.setScript((body) => {
    const last = body.messages[body.messages.length - 1]!;
    const text = typeof last.content === 'string' ? last.content : '';
    if (text.startsWith('[system event] morning digest')) return { text: `Digest (${body.messages.filter((m) => m.role === 'user').length} user messages in context)` };
    if (text.startsWith('[system event] web digest')) return { text: 'Digest for the web inbox' };
    return { text: `echo: ${text}` };
  });
});

afterAll(async () => {
  await t?.stop();
  await tg?.close();
});

describe('schedule delivery targets', () => {
  it('runs in its own isolated session and delivers the answer to a Telegram chat', async () => {
    // Something else is going on in a web session; the schedule's run must not see it.
    await postJson(t.url, '/v1/sessions/busy/messages', { text: 'my private plans' });
    await collectEvents(t.url, 'busy', (es) => es.some((e) => e.event === 'reply'));

    const at = new Date(Date.now() + 800).toISOString();
    const res = await postJson(t.url, '/v1/schedules', { message: 'morning digest', at, deliver: { channel: 'telegram', chatId: '4242', threadId: '7' } });
    expect(res.status).toBe(201);
    const { id, sessionId } = (await res.json()) as { id: string; sessionId: string };
    expect(sessionId).toMatch(/^sched-[0-9a-f]{12}$/);
    const list = (await (await fetch(`${t.url}/v1/schedules`)).json()) as { schedules: Array<{ id: string; deliver?: unknown }> };
    expect(list.schedules.find((s) => s.id === id)?.deliver).toEqual({ channel: 'telegram', chatId: '4242', threadId: '7' });

    const sent = await waitFor(() => tg.succeeded('sendMessage').find((c) => String(c.params.chat_id) === '4242'), { timeoutMs: 15_000, message: 'the digest sent to Telegram' });
    // The run's context held only its own system event: an isolated session.
    expect(sent.params.text).toBe('Digest (1 user messages in context)');
    expect(sent.params.message_thread_id).toBe(7);
    const prompt = JSON.stringify(t.model.requests.find((r) => JSON.stringify(r.messages).includes('morning digest'))!.messages);
    expect(prompt).not.toContain('my private plans');
    // The run's own session keeps the record of it (turn and reply) for anyone following it.
    const events = await collectEvents(t.url, sessionId, (es) => es.some((e) => e.event === 'reply'));
    expect(events.find((e) => e.event === 'reply')!.data).toContain('Digest (1 user messages in context)');
    // Exactly one message went out, and nothing to the busy session.
    expect(tg.succeeded('sendMessage')).toHaveLength(1);
    const busy = await collectEvents(t.url, 'busy', (es) => es.some((e) => e.event === 'reply'));
    expect(busy.filter((e) => e.event === 'reply')).toHaveLength(1);
  });

  it('delivers to another web session’s event stream', async () => {
    const res = await postJson(t.url, '/v1/schedules', { message: 'web digest', at: new Date(Date.now() + 500).toISOString(), deliver: { channel: 'web', chatId: 'inbox-web' } });
    expect(res.status).toBe(201);
    const events = await collectEvents(t.url, 'inbox-web', (es) => es.some((e) => e.event === 'reply'));
    expect(JSON.parse(events.find((e) => e.event === 'reply')!.data)).toMatchObject({ text: 'Digest for the web inbox' });
  });

  it('rejects a bad delivery target with a 400 and creates nothing', async () => {
    const before = ((await (await fetch(`${t.url}/v1/schedules`)).json()) as { schedules: unknown[] }).schedules.length;
    for (const deliver of [{ channel: 'fax', chatId: '1' }, { channel: 'telegram' }, { channel: 'telegram', chatId: 'a b' }, { channel: 'web', chatId: 'x', extra: 1 }]) {
      const res = await postJson(t.url, '/v1/schedules', { message: 'x', everyMs: 60_000, deliver });
      expect(res.status, JSON.stringify(deliver)).toBe(400);
    }
    expect(((await (await fetch(`${t.url}/v1/schedules`)).json()) as { schedules: unknown[] }).schedules).toHaveLength(before);
  });
});
