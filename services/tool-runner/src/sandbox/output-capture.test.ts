import { describe, expect, it } from 'vitest';
import { OutputCapture } from './output-capture.ts';

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
});
