import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, renderMrkdwn, renderSlackParts, SLACK_MESSAGE_LIMIT } from './render.ts';

describe('renderMrkdwn', () => {
  it('turns markdown into mrkdwn: bold, italic, strike, links, headings, bullets', () => {
    expect(renderMrkdwn('**bold** and *it* and _it2_ and ~~gone~~')).toBe('*bold* and _it_ and _it2_ and ~gone~');
    expect(renderMrkdwn('see [the docs](https://e.x/a?b=1&c=2)')).toBe('see <https://e.x/a?b=1&amp;c=2|the docs>');
    expect(renderMrkdwn('# Title\n- one\n  * two')).toBe('*Title*\n• one\n  • two');
  });

  it('escapes &, < and > everywhere, so model output cannot mention @channel or a user', () => {
    expect(renderMrkdwn('a < b && c > d <!channel> <@U123>')).toBe('a &lt; b &amp;&amp; c &gt; d &lt;!channel&gt; &lt;@U123&gt;');
    expect(renderMrkdwn('`x < y`')).toBe('`x &lt; y`');
  });

  it('keeps code fences (dropping the language tag Slack would print) and leaves code unformatted', () => {
    expect(renderMrkdwn('```ts\nconst a = **b** < c;\n```')).toBe('```\nconst a = **b** &lt; c;\n```');
  });
});

describe('renderSlackParts', () => {
  it(`splits at ${SLACK_MESSAGE_LIMIT} characters, closing and reopening a code block across parts`, () => {
    const code = Array.from({ length: 400 }, (_, i) => `line ${i} <tag> & more`).join('\n');
    const parts = renderSlackParts(`intro\n\`\`\`js\n${code}\n\`\`\`\noutro`);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(SLACK_MESSAGE_LIMIT);
      expect((p.match(/```/g) ?? []).length % 2).toBe(0);
    }
    expect(parts[1]!.startsWith('```')).toBe(true);
    const lines = parts.join('\n').split('\n').filter((l) => l.startsWith('line '));
    expect(lines).toHaveLength(400);
    expect(lines[399]).toBe('line 399 &lt;tag&gt; &amp; more');
    expect(parts.at(-1)!.endsWith('outro')).toBe(true);
  });

  it('cuts an over-long line without breaking an entity', () => {
    const parts = renderSlackParts('&'.repeat(9000));
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(SLACK_MESSAGE_LIMIT);
      expect(p).toMatch(/^(&amp;)+$/);
    }
    expect(parts.join('').length).toBe(9000 * 5);
  });

  it('cuts an over-long line outside bold, so no part shows stray asterisks', () => {
    const words = (n: number, w: string) => Array.from({ length: n }, () => w).join(' ');
    // Longer than a message's raw budget (~800 characters) and one message: the line is cut, and a cut at the last
    // space would split the bold span, leaving markdown's `**` unconverted on both sides.
    const line = `${words(130, 'plain')} **${words(20, 'bold')}** ${words(900, 'tail')}`;
    const parts = renderSlackParts(line);
    expect(parts.join('\n')).not.toContain('**');
    expect(parts.join('\n')).toContain(`*${words(20, 'bold')}*`);
    expect(parts.join(' ').replace(/\*/g, '').replace(/\s+/g, ' ')).toBe(line.replace(/\*/g, ''));
  });

  it('escapeMrkdwn escapes only the three control characters', () => {
    expect(escapeMrkdwn('*a* & <b> "c"')).toBe('*a* &amp; &lt;b&gt; "c"');
  });
});
