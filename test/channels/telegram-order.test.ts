/**
 * Replies to one Telegram chat keep their order when a send fails for a while: the failed reply is
 * retried in place, and the chat's next reply waits for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@switchboard/testkit';
import { dmUpdate, startTelegramRig, type TelegramRig } from './telegram-rig.ts';

const rigs: TelegramRig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.close();
});

describe('telegram outbound', () => {
  it('keeps replies to one chat in order when a send fails transiently', async () => {
    const r = await startTelegramRig({ serviceEnv: { TELEGRAM_DRAFT_INTERVAL_MS: '0', TELEGRAM_TYPING_INTERVAL_MS: '0' } });
    rigs.push(r);
    let failures = 3;
    r.tg.setFailer((call) => {
      if (call.method === 'sendMessage' && String(call.params.text).includes('first') && failures > 0) {
        failures -= 1;
        return { status: 502, description: 'Bad Gateway' };
      }
      return undefined;
    });
    await r.post(dmUpdate(111, 'first'));
    await waitFor(() => r.tg.calls.some((c) => c.method === 'sendMessage' && c.status === 502), { timeoutMs: 20_000 });
    await r.post(dmUpdate(111, 'second'));
    await waitFor(() => r.tg.chat(111).length === 2, { timeoutMs: 30_000 });
    expect(r.tg.chat(111).map((m) => m.text)).toEqual(['echo: first', 'echo: second']);
  }, 60_000);
});
