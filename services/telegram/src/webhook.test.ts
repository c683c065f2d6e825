import express from 'express';
import { describe, expect, it } from 'vitest';
import { createLogger, jsonErrorHandler } from '@switchboard/observability';
import { handleUpdate, telegramRouter, type WebhookDeps } from './webhook.ts';

const groupMention = (id: number) => ({
  update_id: id,
  message: {
    message_id: id,
    date: 1_700_000_000,
    chat: { id: -100200, type: 'supergroup', title: 'team' },
    from: { id: 7, is_bot: false, first_name: 'u7' },
    text: '@switchboard_bot are you there',
    entities: [{ type: 'mention', offset: 0, length: 16 }],
  },
});

describe('telegram updates', () => {
  it('fail a group message (to be delivered again) while the bot does not know its username yet', async () => {
    const deps = { bot: { id: '4242', username: undefined }, groupRequireMention: true } as unknown as WebhookDeps;
    await expect(handleUpdate(deps, groupMention(1) as never)).rejects.toThrow(/username is not known yet/);
  });
});

describe('the webhook route on a standalone service', () => {
  it('answers 401 to a request without the secret whatever its body, and a counted JSON 400 to a body that is not JSON, 413 to one over 1 MB', async () => {
    const logger = createLogger({ service: 'test', level: 'silent' });
    const counted: string[] = [];
    const counter = { inc: (labels: { outcome: string }) => void counted.push(labels.outcome) };
    const deps = { secret: 's'.repeat(32), metrics: { updates: counter, inbound: counter }, logger } as unknown as WebhookDeps;
    const app = express();
    app.use(telegramRouter(deps));
    app.use(jsonErrorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/webhooks/telegram`;
    try {
      const post = (headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"update_id": 1,' });
      const unauthenticated = await post({});
      expect(unauthenticated.status).toBe(401);
      const broken = await post({ 'x-telegram-bot-api-secret-token': 's'.repeat(32) });
      expect(broken.status).toBe(400);
      expect(broken.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await broken.json()).toEqual({ error: { code: 'bad_request', message: 'request body is not valid JSON', type: 'invalid_request_error' } });
      const huge = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's'.repeat(32) },
        body: JSON.stringify({ update_id: 2, pad: 'x'.repeat(1_100_000) }),
      });
      expect(huge.status).toBe(413);
      // Each rejected body counts as an update and as an inbound message rejected; the 401 as unauthorized.
      expect(counted).toEqual(['unauthorized', 'rejected', 'rejected', 'rejected', 'rejected']);
    } finally {
      server.close();
    }
  });
});
