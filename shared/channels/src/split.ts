/** The first `n` UTF-16 units of `s`, one fewer where the `n`-th would cut a surrogate pair in half. */
export function headOf(s: string, n: number): string {
  const head = s.slice(0, Math.max(0, n));
  return head.length < s.length && /[\uD800-\uDBFF]$/.test(head) ? head.slice(0, -1) : head;
}

/** Emphasis markers whose pairs must not be split between two messages (`**` is one marker, not two `*`). */
const EMPHASIS_MARKERS = new Set(['**', '__', '~~', '*', '_', '~']);

/**
 * The space to cut `rest` at, within the first `n` characters: with `markup`, the last one before
 * which no inline span (`**bold**`, `` `code` ``) is open, if there is one in the second half of
 * the window; else the last space; 0 when there is none. One pass over the window: outside code
 * spans, each emphasis marker's count is kept as it goes (a heuristic: a lone `_` in snake_case
 * counts as open, which only moves the cut to an earlier space).
 */
function cutPoint(rest: string, n: number, markup: boolean): number {
  const last = rest.lastIndexOf(' ', n);
  if (!markup || last <= 0) return last;
  let inCode = false;
  const open = new Set<string>();
  let best = -1;
  for (let i = 0; i <= last; i++) {
    const c = rest[i]!;
    if (c === '`') inCode = !inCode;
    else if (!inCode && (c === '*' || c === '_' || c === '~')) {
      const marker = rest[i + 1] === c ? c + c : c;
      if (EMPHASIS_MARKERS.has(marker)) {
        if (open.has(marker)) open.delete(marker);
        else open.add(marker);
        i += marker.length - 1;
      }
    } else if (c === ' ' && i > 0 && !inCode && open.size === 0) best = i;
  }
  return best >= n / 2 ? best : last;
}

/**
 * Cuts `s` into pieces of at most `n` characters (`n` ≥ 1), preferring to cut at a space; with
 * `markup`, at a space outside inline markup, so each piece renders on its own. A surrogate pair
 * is never cut in half, so with `n` = 1 a piece may hold one pair (2 units).
 */
export function cutLine(s: string, n: number, opts: { markup?: boolean } = {}): string[] {
  if (!(n >= 1)) throw new RangeError(`cutLine needs room for at least one character (got ${n})`);
  const out: string[] = [];
  let rest = s;
  while (rest.length > n) {
    let at = cutPoint(rest, n, opts.markup ?? false);
    if (at <= 0) at = n;
    // Never cut a UTF-16 surrogate pair in half.
    if (at < rest.length && /[\uD800-\uDBFF]/.test(rest[at - 1] ?? '')) at = at > 1 ? at - 1 : 2;
    out.push(rest.slice(0, at));
    rest = rest.slice(at).replace(/^ /, '');
  }
  out.push(rest);
  return out;
}

const FENCE = /^\s*```\s*([\w+#.-]*)\s*$/;
/** Longest code-block language tag carried over (longer ones are dropped from the fence). */
const MAX_LANGUAGE_TAG = 32;

/**
 * Splits markdown into messages of at most `limit` characters, at line boundaries where possible.
 * A fenced code block that does not fit is closed at the end of one part and reopened (same
 * language) at the start of the next, so every part renders on its own; a line too long for a part
 * is cut at a space outside inline markup where there is one. Text outside code is never
 * altered; empty parts are dropped. Used by channels whose format is markdown-like (Slack mrkdwn,
 * Discord markdown, WhatsApp); Telegram renders HTML first and splits that.
 */
export function splitMarkdown(markdown: string, limit: number): string[] {
  if (limit < 32) throw new RangeError('limit must be at least 32 characters');
  const parts: string[] = [];
  let cur: string[] = [];
  let curLen = 0;
  let fence: string | undefined; // the opening fence line while inside a code block
  const closeLen = 4; // "\n```"
  const flush = () => {
    const text = cur.join('\n').replace(/^\n+|\s+$/g, '');
    if (text !== '' && text !== fence) parts.push(text);
    cur = [];
    curLen = 0;
  };
  const push = (line: string) => {
    curLen += (cur.length > 0 ? 1 : 0) + line.length;
    cur.push(line);
  };
  const room = () => limit - curLen - (cur.length > 0 ? 1 : 0) - (fence ? closeLen : 0);

  for (const line of markdown.replace(/\r\n/g, '\n').split('\n')) {
    const m = FENCE.exec(line);
    if (m) {
      if (fence) {
        push('```');
        fence = undefined;
      } else {
        // A language tag is kept only while short: an endless one would leave no room for code.
        const tag = m[1] ?? '';
        const language = tag.length <= MAX_LANGUAGE_TAG && limit >= 3 + MAX_LANGUAGE_TAG + 1 + closeLen + 16 ? tag : '';
        const open = '```' + language;
        // Open a block only where at least its first line can follow.
        if (room() < open.length + closeLen + 16) flush();
        fence = open;
        push(fence);
      }
      continue;
    }
    const budget = limit - (fence ? fence.length + 1 + closeLen : 0);
    for (const piece of line.length > budget ? cutLine(line, budget, { markup: !fence }) : [line]) {
      if (piece.length > room()) {
        if (fence) {
          push('```');
          const open = fence;
          fence = undefined;
          flush();
          fence = open;
          push(open);
        } else flush();
      }
      push(piece);
    }
  }
  if (fence) push('```'); // an unclosed fence is closed, as most viewers render it anyway
  flush();
  return parts;
}
