import { cutLine } from '@switchboard/channels';

/** Telegram's limit on one message's text, in characters. */
export const TELEGRAM_MESSAGE_LIMIT = 4096;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Inline markdown of one line (bold, italic, strike, code, links) as Telegram HTML. */
export function renderInline(line: string): string {
  const parts = line.split(/(`[^`\n]+`)/g);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      return escapeHtml(part)
        .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)"]+)\)/g, '<a href="$2">$1</a>')
        .replace(/\*\*(?=\S)(.+?)\*\*/g, '<b>$1</b>')
        .replace(/__(?=\S)(.+?)__/g, '<b>$1</b>')
        .replace(/~~(?=\S)(.+?)~~/g, '<s>$1</s>')
        .replace(/(^|[^\w*])\*(?=\S)([^*\n]+?)\*(?!\w)/g, '$1<i>$2</i>')
        .replace(/(^|[^\w])_(?=\S)([^_\n]+?)_(?!\w)/g, '$1<i>$2</i>');
    })
    .join('');
}

function renderLine(line: string): string {
  const heading = /^#{1,6}\s+(.*)$/.exec(line);
  if (heading) return `<b>${renderInline(heading[1]!)}</b>`;
  const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line);
  if (bullet) return `${bullet[1]}• ${renderInline(bullet[2]!)}`;
  return renderInline(line);
}

type Unit = { kind: 'text'; html: string } | { kind: 'code'; lang: string | undefined; lines: string[] };

function parse(markdown: string, limit: number): Unit[] {
  const units: Unit[] = [];
  const lines = markdown.replace(/\r\n/g, '\n').split('\n');
  // Escaping can grow text fivefold (`&` → `&amp;`), so over-long lines are cut with that margin.
  const rawBudget = Math.max(16, Math.floor((limit - 40) / 5));
  let code: { lang: string | undefined; lines: string[] } | undefined;
  for (const line of lines) {
    const fence = /^\s*```\s*([\w+#-]*)\s*$/.exec(line);
    if (fence) {
      if (code) {
        units.push({ kind: 'code', ...code });
        code = undefined;
      } else code = { lang: fence[1] || undefined, lines: [] };
      continue;
    }
    if (code) {
      const esc = escapeHtml(line);
      if (esc.length > limit - 60) code.lines.push(...cutLine(line, rawBudget).map(escapeHtml));
      else code.lines.push(esc);
      continue;
    }
    const html = renderLine(line);
    if (html.length <= limit) units.push({ kind: 'text', html });
    else for (const piece of cutLine(line, rawBudget, { markup: true })) units.push({ kind: 'text', html: renderInline(piece) });
  }
  // An unclosed fence still renders as code to the end, as most markdown viewers do.
  if (code) units.push({ kind: 'code', ...code });
  return units;
}

/**
 * Renders model markdown as Telegram HTML and splits it into messages of at most `limit`
 * characters, at line boundaries. A code block that does not fit is closed at the end of one part
 * and reopened (same language) at the start of the next, so every part is valid HTML.
 */
export function renderTelegramParts(markdown: string, limit = TELEGRAM_MESSAGE_LIMIT): string[] {
  const parts: string[] = [];
  let cur = '';
  const flush = () => {
    const trimmed = cur.replace(/^\n+|\s+$/g, '');
    // A part with no visible text (an empty code block on its own) is refused by Telegram as
    // "message text is empty", which would fail the whole reply for good: it is left out.
    if (trimmed.replace(/<[^>]*>/g, '').trim() !== '') parts.push(trimmed);
    cur = '';
  };
  const append = (s: string) => {
    cur = cur === '' ? s : `${cur}\n${s}`;
  };
  for (const unit of parse(markdown, limit)) {
    if (unit.kind === 'text') {
      if (cur.length + 1 + unit.html.length > limit) flush();
      append(unit.html);
      continue;
    }
    const open = unit.lang ? `<pre><code class="language-${unit.lang}">` : '<pre><code>';
    const close = '</code></pre>';
    const first = unit.lines[0] ?? '';
    if (cur !== '' && cur.length + 1 + open.length + first.length + close.length > limit) flush();
    append(open);
    let inBlock = 0;
    for (const line of unit.lines) {
      const add = inBlock > 0 ? `\n${line}` : line;
      if (inBlock > 0 && cur.length + add.length + close.length > limit) {
        cur += close;
        flush();
        cur = open + line;
      } else cur += add;
      inBlock += 1;
    }
    cur += close;
  }
  flush();
  return parts.length > 0 ? parts : [];
}
