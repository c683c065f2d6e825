import type { Server } from 'node:http';
import express from 'express';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { laneKeys } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { loadTelegramConfig, startTelegramService, type TelegramService } from '@switchboard/telegram';
import { waitFor, type FakeScript } from '@switchboard/testkit';
// Becomes `@switchboard/testkit` once the testkit index exports it.
import { startFakeTelegram, type FakeTelegram } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const TOKEN = '777001:test-secret-token';
const SECRET = 'hook-secret';
const BOT = { id: 777001, is_bot: true, first_name: 'Switchboard', username: 'switchboard_test_bot' };

interface Rig {
  t: TestSystem;
  tg: FakeTelegram;
  service: TelegramService;
  url: string;
  registry: ReturnType<typeof createRegistry>;
  post(update: unknown, secret?: string | null): Promise<Response>;
  sent(): Array<Record<string, unknown>>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The real one-process core plus the Telegram service against the same Redis and prefix, and a fake Bot API. */
async function rig(env: Record<string, string> = {}, script?: FakeScript): Promise<Rig> {
  const t = await startTestSystem({ env: { QUEUED_PLATFORMS: 'telegram', ...env } });
  cleanups.push(() => t.stop());
  if (script) t.model.setScript(script);
  const tg = await startFakeTelegram({ token: TOKEN, username: BOT.username });
  cleanups.push(() => tg.close());
  const registry = createRegistry({ defaultMetrics: false });
  const config = loadTelegramConfig({
    REDIS_URL: inject('redisUrl'),
    SWITCHBOARD_PREFIX: t.prefix,
    TELEGRAM_BOT_TOKEN: TOKEN,
    TELEGRAM_API_ROOT: tg.apiRoot,
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    TELEGRAM_CHAT_INTERVAL_MS: '50',
    TELEGRAM_DM_POLICY: 'open',
    ...env,
  });
  const service = (await startTelegramService({ config, logger: createLogger({ service: 'telegram', level: 'silent' }), registry, redisUrl: inject('redisUrl') }))!;
  cleanups.push(() => service.close());
  const app = express();
  app.use(service.router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    t,
    tg,
    service,
    url,
    registry,
    post: (update, secret = SECRET) => postJson(url, '/webhooks/telegram', update, secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }),
    sent: () => tg.succeeded('sendMessage').map((c) => c.params),
  };
}

let nextUpdateId = 5000;
let nextMessageId = 1;
function dm(userId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdateId++,
    message: { message_id: nextMessageId++, date: 1_700_000_000, chat: { id: userId, type: 'private' }, from: { id: userId, is_bot: false, first_name: `u${userId}` }, text, ...extra },
  };
}
function group(userId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdateId++,
    message: { message_id: nextMessageId++, date: 1_700_000_000, chat: { id: -100200, type: 'supergroup', title: 'team' }, from: { id: userId, is_bot: false, first_name: `u${userId}` }, text, ...extra },
  };
}
const mention = (text: string) => ({ entities: [{ type: 'mention', offset: 0, length: BOT.username.length + 1 }], text: `@${BOT.username} ${text}` });
const modelSaw = (r: Rig, text: string) => r.t.model.requests.some((req) => JSON.stringify(req.messages).includes(text));

describe('telegram webhook', () => {
  it('puts a message on its lane and replies to it through the Bot API', async () => {
    const r = await rig();
    const update = dm(111, 'hello bot');
    const res = await r.post(update);
    expect(res.status).toBe(200);
    const [reply] = await waitFor(() => (r.sent().length > 0 ? r.sent() : undefined));
    expect(reply).toMatchObject({ chat_id: '111', parse_mode: 'HTML', reply_parameters: { message_id: update.message.message_id } });
    expect(reply!.text).toContain('hello bot');
  });

  it('refuses a missing or wrong secret with 401 and enqueues nothing', async () => {
    const r = await rig();
    expect((await r.post(dm(111, 'sneaky'), 'wrong')).status).toBe(401);
    const res = await r.post(dm(111, 'sneaky'), null);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const redis = new Redis(inject('redisUrl'));
    try {
      expect(await redis.exists(laneKeys(r.t.prefix).inbox('telegram:777001:111'))).toBe(0);
    } finally {
      redis.disconnect();
    }
    expect(r.t.model.requests).toHaveLength(0);
  });

  it('rejects a malformed update with 400 and counts it', async () => {
    const r = await rig();
    const res = await r.post({ update_id: 'nope', message: { text: 1 } });
    expect(res.status).toBe(400);
    expect(await r.registry.metrics()).toMatch(/switchboard_inbound_messages_total\{platform="telegram",outcome="rejected"\} 1/);
  });

  it('answers a redelivered update once', async () => {
    const r = await rig();
    const update = dm(111, 'only once');
    expect((await r.post(update)).status).toBe(200);
    expect((await r.post(update)).status).toBe(200);
    await r.post(dm(111, 'second message'));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('second message')));
    expect(r.sent().filter((m) => String(m.text).includes('only once'))).toHaveLength(1);
  });

  it('splits a long reply at 4096 characters and keeps code blocks whole', async () => {
    const code = Array.from({ length: 300 }, (_, i) => `const x${i} = a < b && c > d;`).join('\n');
    const r = await rig({}, () => ({ text: `Here:\n\`\`\`ts\n${code}\n\`\`\`\nDone.` }));
    await r.post(dm(111, 'long please'));
    await waitFor(() => r.sent().some((m) => String(m.text).endsWith('Done.')));
    const texts = r.sent().map((m) => String(m.text));
    expect(texts.length).toBeGreaterThan(2);
    for (const text of texts) {
      expect(text.length).toBeLessThanOrEqual(4096);
      expect(text.split('<pre><code').length).toBe(text.split('</code></pre>').length);
    }
    expect(texts.join('\n')).toContain('const x299 = a &lt; b &amp;&amp; c &gt; d;');
  });

  it('waits out a 429 storm without losing or reordering replies', async () => {
    const r = await rig();
    r.tg.failNext('sendMessage', 4, { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    for (const text of ['first', 'second', 'third']) {
      await r.post(dm(111, text));
      await waitFor(() => modelSaw(r, text));
    }
    await waitFor(() => r.sent().length === 3, { timeoutMs: 20_000 });
    expect(r.sent().map((m) => String(m.text))).toEqual([expect.stringContaining('first'), expect.stringContaining('second'), expect.stringContaining('third')]);
    expect(r.tg.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(7);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  });
});

describe('telegram access rules', () => {
  it('allowlist: a stranger never reaches the model; a listed user does', async () => {
    const r = await rig({ TELEGRAM_DM_POLICY: 'allowlist', TELEGRAM_ALLOW_FROM: '111' });
    expect((await r.post(dm(222, 'stranger danger'))).status).toBe(200);
    await r.post(dm(111, 'friend here'));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('friend here')));
    expect(modelSaw(r, 'stranger danger')).toBe(false);
    expect(r.sent().every((m) => m.chat_id === '111')).toBe(true);
  });

  it('disabled: no DM reaches the model, groups still work', async () => {
    const r = await rig({ TELEGRAM_DM_POLICY: 'disabled', TELEGRAM_ALLOW_FROM: '111' });
    await r.post(dm(111, 'private words'));
    await r.post(group(111, '', mention('group words')));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('group words')));
    expect(modelSaw(r, 'private words')).toBe(false);
  });

  it('groups: ignored without a mention, answered when mentioned or replied to', async () => {
    const r = await rig();
    await r.post(group(111, 'chatter among humans'));
    await r.post(group(111, 'reply to you', { reply_to_message: { message_id: 9, from: BOT } }));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('reply to you')));
    await r.post(group(111, '', mention('mentioned you')));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('mentioned you')));
    expect(modelSaw(r, 'chatter among humans')).toBe(false);
    expect(r.sent().every((m) => m.chat_id === '-100200')).toBe(true);
  });

  it('pairing: a stranger gets a code; once an owner approves it, they are answered', async () => {
    const r = await rig({ TELEGRAM_DM_POLICY: 'pairing' });
    await r.post(dm(333, 'let me in'));
    const codeMsg = await waitFor(() => r.sent().find((m) => /pairing code is ([A-Z0-9]+)/.test(String(m.text))));
    const code = /pairing code is ([A-Z0-9]+)/.exec(String(codeMsg.text))![1]!;
    expect(modelSaw(r, 'let me in')).toBe(false);
    expect((await postJson(r.url, `/admin/telegram/pairings/WRONG123/approve`, {})).status).toBe(404);
    const res = await postJson(r.url, `/admin/telegram/pairings/${code}/approve`, {});
    expect(res.status).toBe(200);
    await r.post(dm(333, 'now paired'));
    await waitFor(() => r.sent().some((m) => String(m.text).includes('now paired')));
  });
});

describe('telegram approvals', () => {
  it('an Approve button press decides the approval and resumes the turn', async () => {
    const toolThenReport: FakeScript = (body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
      return { text: `tool said: ${tool.content}` };
    };
    const r = await rig({ TOOLS_ASK: 'echo' }, toolThenReport);
    await r.post(dm(111, 'use the tool'));
    const request = await waitFor(() => r.sent().find((m) => m.reply_markup !== undefined));
    expect(String(request.text)).toContain('echo');
    const keyboard = request.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
    const approve = keyboard.inline_keyboard[0]!.find((b) => b.text === 'Approve')!;
    const press = {
      update_id: nextUpdateId++,
      callback_query: {
        id: 'cq1',
        from: { id: 111, is_bot: false, first_name: 'u111' },
        message: { message_id: 1001, date: 1_700_000_000, chat: { id: 111, type: 'private' } },
        data: approve.callback_data,
      },
    };
    expect((await r.post(press)).status).toBe(200);
    await waitFor(() => r.sent().some((m) => m.text === 'tool said: launch codes'), { timeoutMs: 20_000 });
    expect(r.tg.succeeded('answerCallbackQuery')[0]!.params).toMatchObject({ callback_query_id: 'cq1', text: 'Approved' });
  });
});
