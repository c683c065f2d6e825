import { describe, expect, it } from 'vitest';
import { cutLine, splitMarkdown } from './split.ts';

describe('splitMarkdown', () => {
  it('keeps short text whole', () => {
    expect(splitMarkdown('hello\nworld', 100)).toEqual(['hello\nworld']);
  });

  it('splits at line boundaries within the limit and loses no text', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}`);
    const parts = splitMarkdown(lines.join('\n'), 500);
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(500);
    expect(parts.join('\n')).toBe(lines.join('\n'));
  });

  it('closes and reopens a code block with its language across parts', () => {
    const code = Array.from({ length: 80 }, (_, i) => `  console.log(${i});`).join('\n');
    const md = `Here:\n\n\`\`\`ts\n${code}\n\`\`\`\nDone.`;
    const parts = splitMarkdown(md, 400);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(400);
      // every part has balanced fences
      expect((p.match(/^```/gm) ?? []).length % 2).toBe(0);
    }
    expect(parts[1]!.startsWith('```ts\n')).toBe(true);
    const body = parts.join('\n').replace(/\n```\n```ts/g, '');
    expect(body).toContain(code);
    expect(parts.at(-1)!.endsWith('Done.')).toBe(true);
  });

  it('cuts an over-long line at spaces, and an unbroken one hard', () => {
    const words = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const parts = splitMarkdown(words, 64);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(64);
    expect(parts.join(' ')).toBe(words);
    const blob = 'y'.repeat(300);
    expect(splitMarkdown(blob, 100)).toEqual(['y'.repeat(100), 'y'.repeat(100), 'y'.repeat(100)]);
  });

  it('does not split a surrogate pair', () => {
    const s = `${'a'.repeat(63)}😀${'b'.repeat(10)}`;
    const parts = splitMarkdown(s, 64);
    expect(parts.join('')).toBe(s);
    for (const p of parts) expect(p).not.toMatch(/[\uD800-\uDBFF]$/);
  });

  it('drops an over-long language tag instead of leaving no room for the code (it looped forever)', () => {
    const tag = 'f'.repeat(1995);
    const code = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(80)}`).join('\n');
    const parts = splitMarkdown(`intro\n\`\`\`${tag}\n${code}\n\`\`\`\nafter`, 2000);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2000);
    expect(parts.join('\n')).toContain('line 49');
    expect(parts.join('\n')).not.toContain(tag);
    // A short tag is carried over as before.
    expect(splitMarkdown('```ts\nlet a = 1;\n```', 2000)).toEqual(['```ts\nlet a = 1;\n```']);
  });

  it('cuts an over-long line outside inline markup, so each part renders on its own', () => {
    const words = (n: number, w: string) => Array.from({ length: n }, () => w).join(' ');
    // A bold span and a code span that a plain cut at the last space would split.
    const line = `${words(6, 'plain')} **${words(8, 'bold')}** and \`${words(3, 'code')}\` ${words(4, 'tail')}`;
    for (const limit of [60, 70, 80, 90]) {
      const parts = splitMarkdown(line, limit);
      expect(parts.join(' '), `limit ${limit}`).toBe(line);
      for (const p of parts) {
        expect(p.length).toBeLessThanOrEqual(limit);
        expect(p.split('**').length % 2, `limit ${limit}: ${p}`).toBe(1);
        expect(p.split('`').length % 2, `limit ${limit}: ${p}`).toBe(1);
      }
    }
    // Without a markup-free space in reach it still cuts at the last space (text is never lost).
    expect(cutLine(`**${words(30, 'x')}**`, 20, { markup: true }).join(' ')).toBe(`**${words(30, 'x')}**`);
  });

  it('cutLine refuses a width with no room and always makes progress', () => {
    expect(() => cutLine('abc', 0)).toThrow(RangeError);
    expect(() => cutLine('abc', -5)).toThrow(RangeError);
    expect(cutLine('ab😀c', 1)).toEqual(['a', 'b', '😀', 'c']);
  });

  it('closes an unclosed fence', () => {
    expect(splitMarkdown('```py\nprint(1)', 100)).toEqual(['```py\nprint(1)\n```']);
  });
});
