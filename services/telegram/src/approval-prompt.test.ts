/**
 * Before the fix, `sendApproval` cut the arguments'
 * JSON with `args.slice(0, 3000)`: an emoji (or any astral character) across position 3000 is cut
 * in half, and the prompt goes out with a lone surrogate, text that is not valid Unicode and has no
 * UTF-8 encoding (the defect the reply and draft cuts were fixed for, see render.test.ts). grammY
 * sends it as a `\ud83d` JSON escape, which the Bot API has no UTF-8 for.
 */
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

const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('telegramSender approval prompt', () => {
  it('never cuts the arguments inside a surrogate pair', async () => {
    fake = await startFakeTelegram({ token: TOKEN });
    const sender = telegramSender(new Api(TOKEN, { apiRoot: fake.apiRoot }), '4242', createLogger({ service: 'test', level: 'silent' }));
    const dm = { account: '4242', chatId: '111' };
    for (let pad = 0; pad < 4; pad++) {
      // `{\n  "t": "` is 10 characters: the emoji run starts around position 3000.
      const args = { t: `${'x'.repeat(2986 + pad)}${'\u{1F600}'.repeat(20)}` };
      await sender.sendApproval(dm, { id: `ap_${'b'.repeat(32)}`, turnId: 't', sessionKey: 's', platform: 'telegram', account: '4242', chatId: '111', tool: 'echo', arguments: args });
    }
    const texts = fake.chat(111).map((m) => m.text);
    expect(texts).toHaveLength(4);
    for (const text of texts) {
      expect(text).not.toMatch(lone);
      expect(Buffer.from(text).toString()).toBe(text); // a lone surrogate would not survive UTF-8
    }
  });
});
