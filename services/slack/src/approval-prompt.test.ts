/**
 * Before the fix, `sendApproval` took the arguments'
 * JSON from the kit's `approvalSummary`, which cut it with `json.slice(0, 2500)`: an emoji (any
 * astral character) across position 2500 is cut in half, and `escapeWithin` then carries the lone
 * surrogate into the Block Kit section, text that is not valid Unicode and has no UTF-8 encoding.
 */
import { describe, expect, it } from 'vitest';
import { slackSender } from './outbound-worker.ts';

const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('slackSender approval prompt', () => {
  it('never cuts the arguments inside a surrogate pair', async () => {
    const posted: Array<{ blocks: Array<{ type: string; text?: { text: string } }> }> = [];
    const client = { chat: { postMessage: async (args: never) => (posted.push(args), { ok: true, ts: '1.1' }) } };
    const sender = slackSender(client as never);
    for (let pad = 0; pad < 4; pad++) {
      // `{\n  "t": "` is 10 characters: the emoji run starts around position 2500.
      const args = { t: `${'x'.repeat(2486 + pad)}${'\u{1F600}'.repeat(20)}` };
      await sender.sendApproval({ account: 'T1', chatId: 'D1' }, { id: `ap_${'c'.repeat(32)}`, turnId: 't', sessionKey: 's', platform: 'slack', account: 'T1', chatId: 'D1', tool: 'echo', arguments: args });
    }
    expect(posted).toHaveLength(4);
    for (const p of posted) {
      const section = p.blocks[0]!.text!.text;
      expect(section.length).toBeLessThanOrEqual(3000);
      expect(section).not.toMatch(lone);
    }
  });
});
