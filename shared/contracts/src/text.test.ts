import { describe, expect, it } from 'vitest';
import { InboundMessage } from './messages.ts';
import { storableJson, storableText } from './text.ts';

describe('storableText', () => {
  it('replaces U+0000 and unpaired surrogates with U+FFFD and keeps everything else', () => {
    expect(storableText('a\u0000b\u0000')).toBe('a\ufffdb\ufffd');
    expect(storableText('high \ud800 alone, low \udc00 alone, \udbff at the end\ud83d')).toBe('high \ufffd alone, low \ufffd alone, \ufffd at the end\ufffd');
    expect(storableText('pair 😀 kept, ünïcödé kept')).toBe('pair 😀 kept, ünïcödé kept');
    const plain = 'nothing to change';
    expect(storableText(plain)).toBe(plain);
    // The same answer on every call (a global regex keeps state between calls unless reset).
    expect([storableText('x\u0000'), storableText('x\u0000'), storableText('ok'), storableText('ok')]).toEqual(['x\ufffd', 'x\ufffd', 'ok', 'ok']);
  });

  it('reaches every string of a JSON value, keys included', () => {
    expect(storableJson({ 'k\u0000': ['v\ud800', 1, null, { deep: 'd\u0000' }], n: 2, b: true })).toEqual({ 'k\ufffd': ['v\ufffd', 1, null, { deep: 'd\ufffd' }], n: 2, b: true });
  });

  it("is applied to every inbound message's text", () => {
    const parsed = InboundMessage.parse({ v: 1, id: 'm', platform: 'web', sessionKey: 's', account: 'a', chatId: 'c', userId: 'u', text: 'hi\u0000 \udc00', receivedAtMs: 0 });
    expect(parsed.text).toBe('hi\ufffd \ufffd');
  });
});
