/**
 * Telegram specifics beyond the shared channel contract (test/channels/telegram.contract.test.ts):
 * reply quoting, header edge cases, exact 429 pacing, DM policy `disabled`, replies to the bot,
 * the approval toast, edited messages, forum topics, per-user group sessions, typing and drafts.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { laneKeys } from '@switchboard/lanes';
import { waitFor, type FakeScript } from '@switchboard/testkit';
import { BOT, dmUpdate, GROUP_ID, groupUpdate, mention, pressUpdate, startTelegramRig, type TelegramRig } from '../channels/telegram-rig.ts';

const rigs: TelegramRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
async function rig(env: Record<string, string> = {}, script?: FakeScript, serviceEnv: Record<string, string> = {}): Promise<TelegramRig> {
  const r = await startTelegramRig({ env, serviceEnv, ...(script ? { script } : {}) });
  rigs.push(r);
  return r;
}
const modelSaw = (r: TelegramRig, text: string) => r.t.model.requests.some((req) => JSON.stringify(req.messages).includes(text));
const sent = (r: TelegramRig) => r.tg.succeeded('sendMessage').map((c) => c.params);
const shown = (r: TelegramRig, chat: number, thread?: number) => r.tg.chat(chat, thread).map((m) => m.text);
/** Replies without streaming, so every reply is one sendMessage (the outbound path alone). */
const NO_DRAFTS = { TELEGRAM_DRAFT_INTERVAL_MS: '0', TELEGRAM_TYPING_INTERVAL_MS: '0' };

describe('telegram webhook', () => {
  it('replies to the message it answers, as HTML', async () => {
    const r = await rig({}, undefined, NO_DRAFTS);
    const update = dmUpdate(111, 'hello **bot**');
    expect((await r.post(update)).status).toBe(200);
    const [reply] = await waitFor(() => (sent(r).length > 0 ? sent(r) : undefined));
    expect(reply).toMatchObject({ chat_id: '111', parse_mode: 'HTML', reply_parameters: { message_id: update.message.message_id } });
    expect(reply!.text).toContain('hello');
  });

  it('refuses a missing or wrong secret with 401 and enqueues nothing', async () => {
    const r = await rig();
    expect((await r.post(dmUpdate(111, 'sneaky'), 'wrong')).status).toBe(401);
    const res = await r.post(dmUpdate(111, 'sneaky'), null);
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

  it('waits out each 429 retry_after without losing or reordering replies', async () => {
    const r = await rig({}, undefined, NO_DRAFTS);
    r.tg.failNext('sendMessage', 4, { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    for (const text of ['first', 'second', 'third']) {
      await r.post(dmUpdate(111, text));
      await waitFor(() => modelSaw(r, text));
    }
    await waitFor(() => sent(r).length === 3, { timeoutMs: 20_000 });
    expect(sent(r).map((m) => String(m.text))).toEqual([expect.stringContaining('first'), expect.stringContaining('second'), expect.stringContaining('third')]);
    expect(r.tg.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(7);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  });
});

describe('telegram access rules', () => {
  it('disabled: no DM reaches the model, groups still work', async () => {
    const r = await rig({ TELEGRAM_DM_POLICY: 'disabled', TELEGRAM_ALLOW_FROM: '111' });
    await r.post(dmUpdate(111, 'private words'));
    await r.post(groupUpdate(111, '', mention('group words')));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('group words')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'private words')).toBe(false);
    expect(shown(r, 111)).toEqual([]);
  });

  it('groups: a reply to the bot counts as addressing it', async () => {
    const r = await rig();
    await r.post(groupUpdate(111, 'reply to you', { reply_to_message: { message_id: 9, date: 1_700_000_000, chat: { id: GROUP_ID, type: 'supergroup' }, from: BOT } }));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('reply to you')), { timeoutMs: 20_000 });
  });
});

describe('telegram approvals', () => {
  it('a button press gets a toast, and the prompt shows the verdict', async () => {
    const toolThenReport: FakeScript = (body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
      return { text: `tool said: ${String(tool.content)}` };
    };
    const r = await rig({ TOOLS_ASK: 'echo' }, toolThenReport);
    await r.post(dmUpdate(111, 'use the tool'));
    const prompt = await waitFor(() => r.tg.chat(111).find((m) => m.replyMarkup !== undefined), { timeoutMs: 20_000 });
    expect(prompt.text).toContain('echo');
    const keyboard = prompt.replyMarkup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
    const approve = keyboard.inline_keyboard[0]!.find((b) => b.text === 'Approve')!;
    const press = pressUpdate(111, { id: 111, type: 'private' }, prompt.messageId, approve.callback_data);
    expect((await r.post(press)).status).toBe(200);
    await waitFor(() => shown(r, 111).includes('tool said: launch codes'), { timeoutMs: 20_000 });
    expect(r.tg.succeeded('answerCallbackQuery')[0]!.params).toMatchObject({ callback_query_id: press.callback_query.id, text: 'Approved' });
    const after = r.tg.chat(111).find((m) => m.messageId === prompt.messageId)!;
    expect(after.text).toMatch(/^Approved <b>echo<\/b>/);
    expect(after.replyMarkup).toBeUndefined();
  });
});

describe('telegram normalization end to end', () => {
  it('an edited DM is answered as a new message marked "(edited)"; an edit in a group is ignored', async () => {
    const r = await rig();
    const original = dmUpdate(121, 'what is 2+3?');
    await r.post(original);
    await waitFor(() => shown(r, 121).some((t) => t.includes('what is 2+3?') && !t.endsWith('…')), { timeoutMs: 20_000 });
    const edit = { update_id: original.update_id + 10_000, edited_message: { ...original.message, text: 'what is 2+2?', edit_date: 1_700_000_100 } };
    expect((await r.post(edit)).status).toBe(200);
    await waitFor(() => shown(r, 121).some((t) => t.includes('(edited) what is 2+2?') && !t.endsWith('…')), { timeoutMs: 20_000 });
    const inGroup = groupUpdate(121, '', mention('group typo'));
    await r.post({ update_id: inGroup.update_id, edited_message: { ...inGroup.message, edit_date: 1_700_000_100 } });
    await r.post(groupUpdate(121, '', mention('group follow-up')));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('group follow-up')), { timeoutMs: 20_000 });
    expect(modelSaw(r, 'group typo')).toBe(false);
  });

  it('a forum topic is its own session; its draft, typing and reply stay in the topic', async () => {
    const r = await rig();
    const forum = { id: GROUP_ID, type: 'supergroup', title: 'team', is_forum: true };
    const seven = groupUpdate(131, '', { chat: forum, message_thread_id: 7, is_topic_message: true, ...mention('in topic seven') });
    await r.post(seven);
    await waitFor(() => shown(r, GROUP_ID, 7).some((t) => t.includes('in topic seven') && !t.endsWith('…')), { timeoutMs: 20_000 });
    expect(r.tg.succeeded('sendChatAction')[0]!.params).toMatchObject({ chat_id: String(GROUP_ID), action: 'typing', message_thread_id: 7 });
    expect(r.tg.succeeded('sendMessage').every((c) => c.params.message_thread_id === 7)).toBe(true);
    // The reply (a streamed draft or a plain send) quotes the message it answers.
    expect(r.tg.succeeded('sendMessage')[0]!.params).toMatchObject({ reply_parameters: { message_id: seven.message.message_id } });
    await r.post(groupUpdate(131, '', { chat: forum, message_thread_id: 8, is_topic_message: true, ...mention('in topic eight') }));
    await waitFor(() => shown(r, GROUP_ID, 8).some((t) => t.includes('in topic eight') && !t.endsWith('…')), { timeoutMs: 20_000 });
    const topic8 = r.t.model.requests.find((q) => JSON.stringify(q.messages).includes('in topic eight'))!;
    expect(JSON.stringify(topic8.messages)).not.toContain('in topic seven');
    expect(shown(r, GROUP_ID, 7).some((t) => t.includes('eight'))).toBe(false);
  });

  it('TELEGRAM_GROUP_SESSION_PER_USER: each member of a group has a conversation of their own', async () => {
    const r = await rig({}, undefined, { TELEGRAM_GROUP_SESSION_PER_USER: 'true' });
    await r.post(groupUpdate(141, '', mention('alpha remembers a secret')));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('alpha remembers') && !t.endsWith('…')), { timeoutMs: 20_000 });
    await r.post(groupUpdate(142, '', mention('bravo asks')));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('bravo asks') && !t.endsWith('…')), { timeoutMs: 20_000 });
    await r.post(groupUpdate(141, '', mention('alpha again')));
    await waitFor(() => shown(r, GROUP_ID).some((t) => t.includes('alpha again') && !t.endsWith('…')), { timeoutMs: 20_000 });
    const requestFor = (text: string) => JSON.stringify(r.t.model.requests.find((q) => JSON.stringify(q.messages).includes(text))!.messages);
    expect(requestFor('bravo asks')).not.toContain('alpha remembers');
    expect(requestFor('alpha again')).toContain('alpha remembers');
  });
});
