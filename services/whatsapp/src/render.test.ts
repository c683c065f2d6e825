import { describe, expect, it } from 'vitest';
import { renderWhatsApp, renderWhatsAppParts, WHATSAPP_MESSAGE_LIMIT } from './render.ts';

describe('renderWhatsApp', () => {
  it('maps markdown emphasis onto WhatsApp markup', () => {
    expect(renderWhatsApp('**bold** and __also bold__, *italic* and _italic_, ~~gone~~, `a*b*c`')).toBe(
      '*bold* and *also bold*, _italic_ and _italic_, ~gone~, `a*b*c`',
    );
  });

  it('turns headings into bold lines and links into label (url), and keeps list bullets', () => {
    expect(renderWhatsApp('## Plan **now**\n* one\n- two\nsee [docs](https://e.x/a?b=1)')).toBe('*Plan now*\n* one\n- two\nsee docs (https://e.x/a?b=1)');
  });

  it('leaves code blocks untouched and drops the language tag WhatsApp would print', () => {
    expect(renderWhatsApp('```ts\nconst a = **b** * c;\n```')).toBe('```\nconst a = **b** * c;\n```');
  });
});

describe('renderWhatsAppParts', () => {
  it('splits at 4096 characters and closes and reopens a code block across parts', () => {
    const code = Array.from({ length: 500 }, (_, i) => `line ${i} = a * b;`).join('\n');
    const parts = renderWhatsAppParts(`intro **x**\n\`\`\`js\n${code}\n\`\`\`\noutro`);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(WHATSAPP_MESSAGE_LIMIT);
      expect((p.match(/```/g) ?? []).length % 2).toBe(0);
      expect(p).not.toContain('```js');
    }
    expect(parts[0]!.startsWith('intro *x*')).toBe(true);
    const lines = parts.join('\n').split('\n').filter((l) => l.startsWith('line '));
    expect(lines).toHaveLength(500);
    expect(parts[parts.length - 1]!.endsWith('outro')).toBe(true);
  });

  it('cuts one over-long line without losing characters', () => {
    const parts = renderWhatsAppParts('word '.repeat(2000).trim());
    expect(parts.length).toBe(3);
    expect(parts.join(' ').split(' ')).toHaveLength(2000);
  });
});
