/**
 * Before the fix, `approvalBody` took the arguments'
 * JSON from the kit's `approvalSummary`, which cut it with `json.slice(0, n)`: an emoji (any astral
 * character) across the cut is cut in half, and the interactive message's body goes out with a
 * lone surrogate, text that is not valid Unicode and has no UTF-8 encoding.
 */
import { describe, expect, it } from 'vitest';
import { WHATSAPP_LIMITS } from './graph-api.ts';
import { approvalBody } from './outbound-worker.ts';

const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('whatsapp approval body', () => {
  it('never cuts the arguments inside a surrogate pair', () => {
    for (let pad = 0; pad < 4; pad++) {
      // The head is 35 characters and `{\n  "t": "` 10: the emoji run starts around the cut at 979.
      const body = approvalBody({ id: `ap_${'d'.repeat(32)}`, turnId: 't', sessionKey: 's', platform: 'whatsapp', account: '1', chatId: '2', tool: 'echo', arguments: { t: `${'x'.repeat(965 + pad)}${'\u{1F600}'.repeat(20)}` } });
      expect(body.length).toBeLessThanOrEqual(WHATSAPP_LIMITS.interactiveBody);
      expect(body).not.toMatch(lone);
    }
  });
});
