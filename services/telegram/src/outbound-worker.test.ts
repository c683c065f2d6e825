import { Api } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@switchboard/observability';
import { startFakeTelegram, type FakeTelegram } from '@switchboard/testkit';
import { telegramSender } from './outbound-worker.ts';

const TOKEN = '4242:sender-token';
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('telegramSender', () => {
  it('sends the reply as a new message when its draft cannot be edited (deleted by the user)', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const sender = telegramSender(new Api(TOKEN, { apiRoot: fake.apiRoot }), '4242', createLogger({ service: 'test', level: 'silent' }));
    const dm = { account: '4242', chatId: '111' };
    const draft = await sender.send(dm, 'draft …', { index: 0, replyTo: [] });
    fake.setFailer((call) => (call.method === 'editMessageText' ? { status: 400, description: 'Bad Request: message to edit not found' } : undefined));
    await sender.edit!(dm, draft!, 'The <b>whole</b> answer.');
    expect(fake.chat(111).map((m) => m.text)).toEqual(['draft …', 'The <b>whole</b> answer.']);
    // Any other refusal is still the caller's to handle.
    fake.setFailer((call) => (call.method === 'editMessageText' ? { status: 400, description: 'Bad Request: chat not found' } : undefined));
    await expect(sender.edit!(dm, draft!, 'again')).rejects.toThrow(/chat not found/);
  });
});
