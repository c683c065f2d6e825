import { Api } from 'grammy';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { createLogger } from '@switchboard/observability';
import { startFakeTelegram, uniquePrefix, waitFor, type FakeTelegram } from '@switchboard/testkit';
import { startTelegramPoller, type TelegramPoller } from './polling.ts';
import type { TgUpdate } from './update.ts';

const TOKEN = '4243:poll-token';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(handle: (u: TgUpdate) => Promise<void>, extra: { giveUpAfterMs?: number; failurePauseMs?: number } = {}, queued: Array<Record<string, unknown>> = []) {
  const fake: FakeTelegram = await startFakeTelegram({ token: TOKEN });
  const ids = queued.map((u) => fake.pushUpdate(u));
  const redis = createRedis(inject('redisUrl'));
  const rejected: unknown[] = [];
  const failed: number[] = [];
  const poller: TelegramPoller = startTelegramPoller({
    api: new Api(TOKEN, { apiRoot: fake.apiRoot }),
    redis,
    prefix: uniquePrefix('poll'),
    botId: '4243',
    logger: createLogger({ service: 'test', level: 'silent' }),
    timeoutSeconds: 1,
    handle,
    onRejected: (id) => rejected.push(id),
    onFailed: (id) => failed.push(id),
    leaseMs: 1000,
    retryBaseMs: 10,
    ...extra,
  });
  cleanups.push(async () => {
    await poller.stop();
    redis.disconnect();
    await fake.close();
  });
  return { fake, poller, rejected, failed, ids };
}
const message = (text: string) => ({ message: { message_id: 1, date: 0, chat: { id: 1, type: 'private' }, from: { id: 1, is_bot: false, first_name: 'a' }, text } });

describe('telegram poller', () => {
  it('retries a failing update before anything after it, and confirms neither until handled', async () => {
    const seen: string[] = [];
    let failures = 2;
    // Both wait at Telegram before the poller starts, so they arrive in one batch.
    const s = await setup(
      async (u) => {
        if (u.message?.text === 'first' && failures-- > 0) throw new Error('redis is down');
        seen.push(u.message!.text!);
      },
      {},
      [message('first'), message('second')],
    );
    const [first, second] = s.ids as [number, number];
    await waitFor(() => seen.length === 2);
    expect(seen).toEqual(['first', 'second']);
    expect(failures).toBe(-1);
    await waitFor(() => s.fake.unconfirmedUpdates().length === 0);
    // Confirmed by an offset past both, asked for only after both were handled.
    const offsets = s.fake.calls.filter((c) => c.method === 'getUpdates').map((c) => Number(c.params.offset));
    expect(offsets).toContain(second + 1);
    expect(offsets).not.toContain(first + 1);
  });

  it('skips a malformed update and, after giveUpAfterMs, a poison one; the rest still flows', async () => {
    const seen: string[] = [];
    const s = await setup(
      async (u) => {
        if (u.message?.text === 'poison') throw new Error('always fails');
        seen.push(u.message!.text!);
      },
      { giveUpAfterMs: 200 },
    );
    const bad = s.fake.pushUpdate({ message: { text: 42 } });
    const poison = s.fake.pushUpdate(message('poison'));
    s.fake.pushUpdate(message('fine'));
    await waitFor(() => seen.includes('fine'));
    expect(s.rejected).toEqual([bad]);
    expect(s.failed).toEqual([poison]);
  });

  it('pauses, growing, before polling again after a 409 instead of calling Telegram in a tight loop', async () => {
    const { fake } = await setup(async () => undefined, { failurePauseMs: 200 });
    fake.setFailer((call) => (call.method === 'getUpdates' ? { status: 409, description: 'Conflict: terminated by other getUpdates request' } : undefined));
    await new Promise((r) => setTimeout(r, 2000));
    const polls = fake.calls.filter((c) => c.method === 'getUpdates').length;
    // 200, 400, 800 ms pauses (and grammY's own retry of the first call) fit in 2 s: a handful, not hundreds.
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(8);
    expect(fake.calls.filter((c) => c.method === 'deleteWebhook').length).toBeLessThanOrEqual(8);
  });
});
