import { cutLine, splitMarkdown } from '@switchboard/channels';

/**
 * Characters per Slack message we send. `chat.postMessage` accepts up to 40,000 characters of
 * `text` but Slack truncates long messages in clients and recommends at most 4,000; a Block Kit
 * section holds 3,000. Replies go out as plain `text` (mrkdwn) without blocks, so 4,000 it is;
 * only approval prompts use blocks and keep their section under 3,000.
 */
export const SLACK_MESSAGE_LIMIT = 4000;

/** Escapes the three characters Slack treats as control characters in message text (`&`, `<`, `>`). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const BOLD = '\u0001';

/**
 * Inline markdown of one line as Slack mrkdwn: `**b**` → `*b*`, `*i*`/`_i_` → `_i_`, `~~s~~` → `~s~`,
 * `[t](u)` → `<u|t>`, inline code kept. Everything is escaped first, so model output can never
 * form a mention (`<!channel>`, `<@U…>`) or a link Slack would expand on its own.
 */
export function renderInline(line: string): string {
  return line
    .split(/(`[^`\n]+`)/g)
    .map((part, i) => {
      if (i % 2 === 1) return escapeMrkdwn(part);
      return escapeMrkdwn(part)
        .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, (_m, text: string, url: string) => `<${url}|${text.replace(/\|/g, '¦')}>`)
        .replace(/\*\*(?=\S)(.+?)\*\*/g, `${BOLD}$1${BOLD}`)
        .replace(/__(?=\S)(.+?)__/g, `${BOLD}$1${BOLD}`)
        .replace(/~~(?=\S)(.+?)~~/g, '~$1~')
        .replace(/(^|[^\w*])\*(?=\S)([^*\n]+?)\*(?!\w)/g, '$1_$2_')
        .replaceAll(BOLD, '*');
    })
    .join('');
}

function renderLine(line: string): string {
  const heading = /^#{1,6}\s+(.*)$/.exec(line);
  if (heading) return `*${renderInline(heading[1]!)}*`;
  const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line);
  if (bullet) return `${bullet[1]}• ${renderInline(bullet[2]!)}`;
  return renderInline(line);
}

const FENCE = /^\s*```\s*[\w+#.-]*\s*$/;

/**
 * Renders model markdown as Slack mrkdwn. Code fences stay fences (without the language tag,
 * which Slack would show as the first line of code); code is escaped but otherwise untouched.
 */
export function renderMrkdwn(markdown: string, limit = SLACK_MESSAGE_LIMIT): string {
  // Escaping can grow text fivefold (`&` → `&amp;`): a line that might not fit is cut first, so
  // the splitter never has to cut inside an entity or a link.
  const rawBudget = Math.max(16, Math.floor((limit - 16) / 5));
  const out: string[] = [];
  let inCode = false;
  for (const line of markdown.replace(/\r\n/g, '\n').split('\n')) {
    if (FENCE.test(line)) {
      out.push('```');
      inCode = !inCode;
      continue;
    }
    const render = inCode ? escapeMrkdwn : renderLine;
    const rendered = render(line);
    if (rendered.length <= limit - 16) out.push(rendered);
    else out.push(...cutLine(line, rawBudget, { markup: !inCode }).map(inCode ? escapeMrkdwn : renderInline));
  }
  return out.join('\n');
}

/** Renders model markdown as mrkdwn messages of at most `limit` characters, never breaking a code block. */
export function renderSlackParts(markdown: string, limit = SLACK_MESSAGE_LIMIT): string[] {
  return splitMarkdown(renderMrkdwn(markdown, limit), limit);
}
