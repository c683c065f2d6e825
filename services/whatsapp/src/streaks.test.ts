/**
 * whatsappSender counts consecutive rate-limit answers per recipient for its backoff. Before the
 * fix an entry went only when a later send to the same recipient succeeded: a recipient whose last
 * answer was a rate limit (then a refusal such as 131047, or never written to again) stayed for the
 * life of the worker, and its stale streak doubled the backoff of a rate limit days later.
 */
import { describe, expect, it, vi } from 'vitest';
import { GraphApiError, type GraphApi } from './graph-api.ts';
import { classifyWhatsAppError, whatsappSender } from './outbound-worker.ts';

const rateLimited = () => new GraphApiError('POST /messages', 400, { code: 131056, message: 'pair rate limit' }, undefined);
const refused = () => new GraphApiError('POST /messages', 400, { code: 131047, message: 'outside the 24-hour window' }, undefined);

describe('whatsappSender: per-recipient rate-limit streaks', () => {
  it('forgets a recipient whose sends ended in a refusal or were never retried', async () => {
    let next: () => Error = rateLimited;
    const api = { sendText: async () => Promise.reject(next()) } as unknown as GraphApi;
    const sender = whatsappSender(api, { baseBackoffMs: 1000 });
    const send = (to: string) => sender.send({ account: '123', chatId: to }, 'hi', { index: 0, replyTo: [] }).catch((err: unknown) => err);
    const RECIPIENTS = 100;
    for (let i = 0; i < RECIPIENTS; i++) {
      next = rateLimited;
      await send(`4915100000${i}`); // slowed down once...
      next = refused;
      await send(`4915100000${i}`); // ...then refused for good: the job fails, the user is not written to again
    }
    // Much later, each of them is rate limited once: a fresh streak (1) would back off 6 s; a remembered one, 12 s.
    next = rateLimited;
    let remembered = 0;
    for (let i = 0; i < RECIPIENTS; i++) {
      const err = await send(`4915100000${i}`);
      const failure = classifyWhatsAppError(err, 1000);
      if (failure.kind === 'rate_limited' && failure.retryAfterMs > 6000) remembered += 1;
    }
    // Before the fix all 100 recipients are still in the map (and back off twice as long).
    expect(remembered, `${remembered} of ${RECIPIENTS} finished recipients still held in the streaks map`).toBe(0);
  });

  it('starts a new streak when the last rate-limit answer is older than the longest backoff', async () => {
    const api = { sendText: async () => Promise.reject(rateLimited()) } as unknown as GraphApi;
    const sender = whatsappSender(api, { baseBackoffMs: 1000 });
    const backoff = async () => classifyWhatsAppError(await sender.send({ account: '123', chatId: '491510000' }, 'hi', { index: 0, replyTo: [] }).catch((err: unknown) => err), 1000);
    const start = Date.now();
    const now = vi.spyOn(Date, 'now').mockReturnValue(start);
    try {
      expect(await backoff()).toMatchObject({ retryAfterMs: 6000 });
      now.mockReturnValue(start + 6000);
      expect(await backoff()).toMatchObject({ retryAfterMs: 12_000 }); // the retry, rate limited again
      now.mockReturnValue(start + 6000 + 3 * 60_000);
      expect(await backoff()).toMatchObject({ retryAfterMs: 6000 });
    } finally {
      now.mockRestore();
    }
  });
});
