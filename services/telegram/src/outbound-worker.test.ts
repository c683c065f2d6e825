import { Api } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@switchboard/observability';
import { startFakeTelegram, type FakeTelegram } from '@switchboard/testkit';
import { telegramDraftSurface } from './draft-surface.ts';
import { telegramSender } from './outbound-worker.ts';

const TOKEN = '4242:sender-token';
let fake: FakeTelegram | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('telegramSender', () => {
  it('says which edit failures mean the draft is gone (the outbound worker then sends the reply as a new message)', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const sender = telegramSender(new Api(TOKEN, { apiRoot: fake.apiRoot }), '4242', createLogger({ service: 'test', level: 'silent' }));
    const dm = { account: '4242', chatId: '111' };
    const draft = await sender.send(dm, 'draft …', { index: 0, replyTo: [] });
    const failure = () => sender.edit!(dm, draft!, 'The <b>whole</b> answer.').then(() => undefined, (err: unknown) => err);
    fake.setFailer((call) => (call.method === 'editMessageText' ? { status: 400, description: 'Bad Request: message to edit not found' } : undefined));
    expect(sender.uneditable!(await failure())).toBe(true);
    fake.setFailer((call) => (call.method === 'editMessageText' ? { status: 400, description: "Bad Request: message can't be edited" } : undefined));
    expect(sender.uneditable!(await failure())).toBe(true);
    // Any other refusal is not: the outbound worker classifies it as usual.
    fake.setFailer((call) => (call.method === 'editMessageText' ? { status: 400, description: 'Bad Request: chat not found' } : undefined));
    const other = await failure();
    expect(String(other)).toMatch(/chat not found/);
    expect(sender.uneditable!(other)).toBe(false);
    // The sender itself sends nothing in place of a failed edit.
    expect(fake.chat(111).map((m) => m.text)).toEqual(['draft …']);
    // The outbound worker takes a draft it could not edit down once the reply is out.
    await sender.remove!(dm, draft!);
    expect(fake.chat(111)).toEqual([]);
    // The streamer stops editing such a draft by the same rule.
    expect(telegramDraftSurface(new Api(TOKEN, { apiRoot: fake.apiRoot })).uneditable).toBe(sender.uneditable);
  });
});
