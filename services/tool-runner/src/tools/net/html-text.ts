/**
 * A small, linear-time HTML-to-text reduction for showing web pages to a model: drops scripts,
 * styles and other non-content elements, turns block boundaries into line breaks, strips tags,
 * decodes entities and collapses whitespace. Not a full HTML parser: it never executes or
 * resolves anything, and no input makes it backtrack (each `<` is scanned past once).
 */

/** Elements whose content is never text for a reader. */
const SKIP_CONTENT = new Set(['script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'canvas']);

/** Elements that start or end a line of text. */
const BLOCK = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'details', 'div', 'dl', 'dt', 'figcaption', 'figure', 'footer',
  'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'summary',
  'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'ul', 'title', 'body', 'html', 'option',
]);

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™', hellip: '…',
  mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', bull: '•',
  middot: '·', deg: '°', euro: '€', pound: '£', yen: '¥', cent: '¢', times: '×', divide: '÷', sect: '§', para: '¶',
  shy: '', zwj: '', zwnj: '', ensp: ' ', emsp: ' ', thinsp: ' ', larr: '←', rarr: '→', uarr: '↑', darr: '↓',
};

/** Decodes numeric and common named character references; unknown ones stay as written. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,31});?/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      // NUL, surrogates and out-of-range code points become U+FFFD, as browsers do.
      if (!Number.isFinite(code) || code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\uFFFD';
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function collapse(text: string): string {
  return text
    .replace(/[ \t\f\v\r\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

/** Reads the tag name at `html[start]` (just after `<` or `</`). */
function tagNameAt(html: string, start: number): string {
  let end = start;
  while (end < html.length && end - start < 32 && /[A-Za-z0-9-]/.test(html[end]!)) end++;
  return html.slice(start, end).toLowerCase();
}

/** The readable text and the `<title>` of an HTML document. */
export function htmlToText(html: string): { title: string | undefined; text: string } {
  let title: string | undefined;
  const out: string[] = [];
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt === -1) {
      out.push(html.slice(i));
      break;
    }
    out.push(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      if (end === -1) break;
      i = end + 3;
      continue;
    }
    const closing = html[lt + 1] === '/';
    const name = tagNameAt(html, lt + (closing ? 2 : 1));
    if (!name) {
      // `<!DOCTYPE`, `<?xml`, or a stray `<` in text.
      if (html[lt + 1] === '!' || html[lt + 1] === '?') {
        const end = html.indexOf('>', lt);
        i = end === -1 ? html.length : end + 1;
      } else {
        out.push('<');
        i = lt + 1;
      }
      continue;
    }
    const gt = html.indexOf('>', lt);
    if (gt === -1) break;
    i = gt + 1;
    if (closing) {
      if (BLOCK.has(name)) out.push('\n');
      continue;
    }
    if (name === 'title' || SKIP_CONTENT.has(name)) {
      // Raw content up to the matching end tag; a missing end tag drops the rest, as browsers do.
      const endTag = new RegExp(`</${name}\\s*>`, 'ig');
      endTag.lastIndex = i;
      const match = endTag.exec(html);
      const contentEnd = match ? match.index : html.length;
      if (name === 'title' && title === undefined) title = collapse(decodeEntities(html.slice(i, contentEnd).replace(/<[^>]*>/g, ''))) || undefined;
      i = match ? match.index + match[0].length : html.length;
      continue;
    }
    if (BLOCK.has(name)) out.push('\n');
    else if (name === 'img') {
      const alt = /\balt\s*=\s*("([^"]*)"|'([^']*)')/i.exec(html.slice(lt, gt));
      const text = alt?.[2] ?? alt?.[3];
      if (text) out.push(` ${text} `);
    }
  }
  return { title, text: collapse(decodeEntities(out.join(''))) };
}
