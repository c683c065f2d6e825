import { splitMarkdown } from '@switchboard/channels';

/** WhatsApp's limit on one text message's body, in characters. */
export const WHATSAPP_MESSAGE_LIMIT = 4096;

const FENCE = /^(\s*)```\s*[\w+#.-]*\s*$/;
// Placeholders from the Private Use Area: model text does not contain them.
const B_OPEN = '\uE000';
const B_CLOSE = '\uE001';

/** One line's inline markdown (outside code spans) in WhatsApp's markup. */
function inline(s: string): string {
  return (
    s
      // Links: WhatsApp shows bare URLs as links; keep the label and the address.
      .replace(/!?\[([^\]\n]+)\]\((\S+?)\)/g, (_m, label: string, url: string) => (label === url ? url : `${label} (${url})`))
      .replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, `${B_OPEN}$1${B_CLOSE}`)
      .replace(/__(?=\S)(.+?)(?<=\S)__/g, `${B_OPEN}$1${B_CLOSE}`)
      // Markdown *italic* (single stars not part of a list bullet) is WhatsApp _italic_.
      .replace(/(^|[^*\w])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![*\w])/g, '$1_$2_')
      .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, '~$1~')
      .replaceAll(B_OPEN, '*')
      .replaceAll(B_CLOSE, '*')
  );
}

/** Inline markdown of a line, leaving `code spans` (which WhatsApp also shows as code) untouched. */
function renderLine(line: string): string {
  const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
  if (heading) return `*${inline(heading[1]!).replace(/\*/g, '')}*`;
  const hr = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line);
  if (hr) return '───';
  return line
    .split(/(`[^`\n]+`)/)
    .map((seg, i) => (i % 2 === 1 ? seg : inline(seg)))
    .join('');
}

/**
 * Renders model markdown in WhatsApp's formatting: `*bold*`, `_italic_`, `~strike~`, `` `code` ``
 * and ``` blocks (WhatsApp has no language tag: it is dropped), headings as bold lines, links as
 * "label (url)". Code blocks pass through untouched.
 */
export function renderWhatsApp(markdown: string): string {
  const out: string[] = [];
  let inCode = false;
  for (const line of markdown.replace(/\r\n/g, '\n').split('\n')) {
    const fence = FENCE.exec(line);
    if (fence) {
      inCode = !inCode;
      out.push('```');
      continue;
    }
    out.push(inCode ? line : renderLine(line));
  }
  return out.join('\n');
}

/** Renders and splits a reply into WhatsApp messages of at most `limit` characters, code blocks balanced in each. */
export function renderWhatsAppParts(markdown: string, limit = WHATSAPP_MESSAGE_LIMIT): string[] {
  return splitMarkdown(renderWhatsApp(markdown), limit);
}
