/**
 * Long polling (TELEGRAM_MODE=polling) against the fake's getUpdates: the webhook is deleted
 * first, updates take the same path as webhooks (access, dedupe by update_id, lanes), an update is
 * confirmed to Telegram only after it was handled, and only one replica polls a bot at a time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lastUserMessages, startFakeTelegram, waitFor } from '@switchboard/testkit';
import { BOT, dmUpdate, startTelegramRig, TOKEN, type TelegramRig } from '../channels/telegram-rig.ts';
import { startTestSystem } from '../support/system.ts';

const POLLING = { TELEGRAM_MODE: 'polling', TELEGRAM_POLL_TIMEOUT_SECONDS: '1', TELEGRAM_POLL_LEASE_MS: '1500' };
const rigs: TelegramRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});
async function rig(): Promise<TelegramRig> {
  const r = await startTelegramRig({ serviceEnv: POLLING });
  rigs.push(r);
  return r;
}
const said = (r: TelegramRig, chat: number) => r.tg.chat(chat).map((m) => m.text);

describe('telegram long polling', () => {
  it('deletes the webhook, answers polled messages in order, and confirms them once handled', async () => {
    const r = await rig();
    await waitFor(() => r.tg.calls.some((c) => c.method === 'getUpdates'));
    expect(r.tg.webhookUrl()).toBeUndefined();
    const methods = r.tg.calls.map((c) => c.method);
    expect(methods.indexOf('deleteWebhook')).toBeLessThan(methods.indexOf('getUpdates'));
    for (const text of ['one', 'two', 'three']) r.tg.pushUpdate(dmUpdate(401, text));
    await waitFor(() => said(r, 401).some((t) => t.includes('three') && !t.endsWith('…')), { timeoutMs: 30_000 });
    // Whether collected into one turn or not, the model got them in the order they were sent.
    const turns = r.t.model.requests.filter((q) => String(q.messages[0]?.content).startsWith('You are a helpful assistant'));
    const seen = turns.flatMap((q) => lastUserMessages(q)).flatMap((t) => t.split('\n'));
    expect(seen.filter((t) => ['one', 'two', 'three'].includes(t))).toEqual(['one', 'two', 'three']);
    // The poll after the batch carried offset = last id + 1, which confirms the batch to Telegram.
    await waitFor(() => r.tg.unconfirmedUpdates().length === 0);
    const polls = r.tg.succeeded('getUpdates').map((c) => c.params);
    expect(polls[0]).toMatchObject({ timeout: 1, allowed_updates: ['message', 'edited_message', 'callback_query'] });
    expect(r.tg.calls.every((c) => c.token === TOKEN)).toBe(true);
  });

  it('an update delivered again after a restart is handled once; a malformed one is skipped and counted', async () => {
    const r = await rig();
    const first = dmUpdate(402, 'only once');
    r.tg.pushUpdate(first);
    await waitFor(() => said(r, 402).some((t) => t.includes('only once') && !t.endsWith('…')), { timeoutMs: 20_000 });
    await r.stopInstance();
    // Telegram redelivers what it thinks was not confirmed; the new poller starts without an offset.
    r.tg.pushUpdate(first);
    r.tg.pushUpdate({ update_id: first.update_id + 100_000, message: { text: 1 } });
    r.tg.pushUpdate(dmUpdate(402, 'after restart'));
    const next = await r.startInstance();
    await waitFor(() => said(r, 402).some((t) => t.includes('after restart') && !t.endsWith('…')), { timeoutMs: 20_000 });
    expect(said(r, 402).filter((t) => t.includes('only once'))).toHaveLength(1);
    expect(await next.registry.metrics()).toMatch(/switchboard_inbound_messages_total\{platform="telegram",outcome="rejected"\} 1/);
  });

  it('one poller per bot: a second replica stands by and takes over when the first stops', async () => {
    const r = await rig();
    const a = r.current;
    await waitFor(() => a.service.poller?.active());
    const b = await r.startInstance();
    // b holds no lease, so it never calls getUpdates (which would end a's request with a 409).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(b.service.poller?.active()).toBe(false);
    expect(r.tg.calls.filter((c) => c.method === 'getUpdates' && c.params.timeout === 1).length).toBeGreaterThan(0);
    r.tg.pushUpdate(dmUpdate(403, 'to the active poller'));
    await waitFor(() => said(r, 403).some((t) => t.includes('to the active poller') && !t.endsWith('…')), { timeoutMs: 20_000 });
    const conflicts = () => r.tg.calls.filter((c) => c.method === 'getUpdates' && c.status === 409).length;
    expect(conflicts()).toBe(0);
    await a.close();
    await waitFor(() => b.service.poller?.active(), { timeoutMs: 10_000 });
    r.tg.pushUpdate(dmUpdate(403, 'to the standby'));
    await waitFor(() => said(r, 403).some((t) => t.includes('to the standby') && !t.endsWith('…')), { timeoutMs: 20_000 });
    expect(conflicts()).toBe(0);
  });

  it('npm start with only a bot token polls: the one-process system answers without any public URL', async () => {
    const tg = await startFakeTelegram({ token: TOKEN, username: BOT.username });
    const t = await startTestSystem({ env: { TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_ROOT: tg.apiRoot, TELEGRAM_DM_POLICY: 'open', TELEGRAM_POLL_TIMEOUT_SECONDS: '1' } });
    try {
      tg.pushUpdate(dmUpdate(404, 'no webhook here'));
      await waitFor(() => tg.chat(404).some((m) => m.text.includes('no webhook here') && !m.text.endsWith('…')), { timeoutMs: 20_000 });
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await t.stop();
      await tg.close();
    }
  });
});
