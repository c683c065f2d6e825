import { describe, expect, it } from 'vitest';
import { fitTogether, OutputCapture } from './output-capture.ts';

describe('OutputCapture', () => {
  it('keeps everything that fits', () => {
    const c = new OutputCapture(10, 10);
    c.push(Buffer.from('hello '));
    c.push(Buffer.from('world'));
    expect(c.text()).toBe('hello world');
    expect(c.total).toBe(11);
  });

  it('keeps the head and the tail of a long stream and counts what it dropped', () => {
    const c = new OutputCapture(4, 6);
    for (let i = 0; i < 1000; i++) c.push(Buffer.from(`line ${i}\n`));
    expect(c.text()).toBe(`line\n[... ${c.total - 10} bytes omitted ...]\ne 999\n`);
  });

  it('handles one huge chunk', () => {
    const c = new OutputCapture(3, 3);
    c.push(Buffer.from('abcdefghijklmnop'));
    expect(c.text()).toBe('abc\n[... 10 bytes omitted ...]\nnop');
  });

  it('fits its text into a byte budget, cut in the middle on character boundaries, counting every byte dropped', () => {
    const c = new OutputCapture(100, 100);
    c.push(Buffer.from('é'.repeat(30))); // 60 bytes, nothing dropped yet
    const fitted = c.text(50);
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(50);
    expect(fitted).not.toContain('\uFFFD'); // no half of a character decoded
    const m = /^(é*)\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n(é*)$/.exec(fitted)!;
    expect(m[1]!.length).toBeGreaterThan(0);
    expect(Buffer.byteLength(m[1]! + m[3]!) + Number(m[2])).toBe(60);

    const long = new OutputCapture(40, 40);
    for (let i = 0; i < 100; i++) long.push(Buffer.from(`line ${String(i).padStart(3, '0')}\n`)); // 900 bytes
    const cut = long.text(70);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(70);
    expect(cut.startsWith('line 000')).toBe(true);
    expect(cut.endsWith('line 099\n')).toBe(true);
    const dropped = Number(/(\d+) bytes omitted/.exec(cut)![1]);
    expect(Buffer.byteLength(cut.replace(/\n\[.*\]\n/, '')) + dropped).toBe(900);
    expect(long.text(10)).toBe('');
  });

  it('fits two streams together, giving what one does not need to the other', () => {
    const stream = (n: number) => {
      const c = new OutputCapture(5000, 5000);
      c.push(Buffer.from('x'.repeat(n)));
      return c;
    };
    expect(fitTogether(stream(10), stream(20), 100)).toEqual(['x'.repeat(10), 'x'.repeat(20)]);
    const [out, err] = fitTogether(stream(5000), stream(30), 1000);
    expect(err).toBe('x'.repeat(30));
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(970);
    expect(Buffer.byteLength(out)).toBeGreaterThan(900);
    const [a, b] = fitTogether(stream(5000), stream(5000), 1000);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(500);
    expect(Buffer.byteLength(b)).toBeLessThanOrEqual(500);
    expect(b.endsWith('xxxx')).toBe(true);
  });
});
