import { describe, expect, it } from 'vitest';
import { renderTelegramParts, TELEGRAM_MESSAGE_LIMIT } from './render.ts';

describe('renderTelegramParts', () => {
  it('escapes HTML and renders inline markdown and fenced code', () => {
    const [html] = renderTelegramParts('**a < b** & `x > y` [site](https://e.x/?a=1&b=2)\n```ts\nif (a < b && c) {}\n```');
    expect(html).toBe(
      '<b>a &lt; b</b> &amp; <code>x &gt; y</code> <a href="https://e.x/?a=1&amp;b=2">site</a>\n<pre><code class="language-ts">if (a &lt; b &amp;&amp; c) {}</code></pre>',
    );
  });

  it('splits at 4096 and closes and reopens a code block across parts', () => {
    const code = Array.from({ length: 400 }, (_, i) => `line ${i} <tag> & more`).join('\n');
    const parts = renderTelegramParts(`intro\n\`\`\`js\n${code}\n\`\`\`\noutro`);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(TELEGRAM_MESSAGE_LIMIT);
      expect(p.split('<pre><code').length).toBe(p.split('</code></pre>').length);
    }
    expect(parts[1]!.startsWith('<pre><code class="language-js">')).toBe(true);
    const lines = parts.join('\n').replace(/<\/?pre>|<code[^>]*>|<\/code>/g, '').split('\n').filter((l) => l.startsWith('line '));
    expect(lines).toHaveLength(400);
    expect(lines[399]).toBe('line 399 &lt;tag&gt; &amp; more');
    expect(parts[parts.length - 1]!.endsWith('outro')).toBe(true);
  });

  it('leaves out a part with no visible text (Telegram refuses it, failing the whole reply)', () => {
    const parts = renderTelegramParts(`${'word '.repeat(810)}\n\`\`\`\n\n\`\`\`\nafter`, 4096);
    expect(parts.length).toBeGreaterThan(0);
    for (const p of parts) expect(p.replace(/<[^>]*>/g, '').trim()).not.toBe('');
    expect(parts.join('\n')).toContain('after');
    expect(renderTelegramParts('```\n```')).toEqual([]);
  });

  it('cuts a single over-long line without breaking an entity', () => {
    const parts = renderTelegramParts('&'.repeat(5000));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p).toMatch(/^(&amp;)+$/);
    expect(parts.join('').length).toBe(5000 * 5);
  });

  it('never cuts an over-long line inside a surrogate pair, in text or in code', () => {
    const line = '\u{1F600}'.repeat(3000); // 6000 UTF-16 units, no spaces
    for (const md of [line, '```\n' + line + '\n```']) {
      const parts = renderTelegramParts(md);
      expect(parts.length).toBeGreaterThan(1);
      for (const p of parts) {
        expect(p.length).toBeLessThanOrEqual(TELEGRAM_MESSAGE_LIMIT);
        expect(Buffer.from(p).toString()).toBe(p); // a lone surrogate would not survive UTF-8
      }
      expect(parts.join('').replace(/<\/?pre>|<code[^>]*>|<\/code>|\n/g, '')).toBe(line);
    }
  });
});
