import { describe, expect, it } from 'vitest';
import { decodeEntities, htmlToText } from './html-text.ts';

describe('htmlToText', () => {
  it('keeps readable text and the title, drops scripts, styles and comments', () => {
    const html = `<!DOCTYPE html><html><head><title>My &amp; Page</title><style>body{color:red}</style>
      <script>alert("x<y")</script></head><body><!-- hidden --><h1>Hello</h1><p>First&nbsp;para with <b>bold</b> and <a href="/x">a link</a>.</p>
      <ul><li>one</li><li>two</li></ul><noscript>enable js</noscript><p>a &lt; b &#x263A; &#9731;</p><img src="x.png" alt="A cat"></body></html>`;
    const { title, text } = htmlToText(html);
    expect(title).toBe('My & Page');
    expect(text).toBe('Hello\nFirst para with bold and a link.\none\ntwo\na < b ☺ ☃\nA cat');
  });

  it('drops everything after an unclosed script and survives broken markup', () => {
    expect(htmlToText('<p>before</p><script>var x = "</p>secret').text).toBe('before');
    expect(htmlToText('a < b and c > d <').text).toBe('a < b and c > d <');
    expect(htmlToText('<p>x<!-- never closed').text).toBe('x');
    expect(htmlToText('<SCRIPT type=x>evil()</SCRIPT >shown').text).toBe('shown');
  });

  it('is linear on adversarial input', () => {
    const started = performance.now();
    htmlToText('<script>'.repeat(50_000) + '<style'.repeat(50_000) + '<!--'.repeat(50_000));
    htmlToText('<a '.repeat(100_000));
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('decodes entities safely', () => {
    expect(decodeEntities('&#0;&#xD800;&#x110000;&unknown;&AMP;&quot;')).toBe('\uFFFD\uFFFD\uFFFD&unknown;&"');
  });
});
