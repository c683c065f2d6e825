import { approvalAction, approvalSummary, headOf, splitMarkdown } from '@switchboard/channels';
import type { ApprovalNotice } from '@switchboard/contracts';

/** Discord's limit on one message's content, in characters. */
export const DISCORD_MESSAGE_LIMIT = 2000;

/**
 * Nobody gets pinged by what the model writes: `@everyone`, `@here`, user and role mentions in a
 * reply render as text but notify no one (Discord's `allowed_mentions` with an empty `parse`).
 */
export const NO_MENTIONS = { parse: [] as string[] };

/**
 * Model markdown is Discord markdown already (bold, italics, code, fences, quotes, lists, headers,
 * masked links), so it passes through; it is split at 2000 characters, with a code block that does
 * not fit closed at the end of one message and reopened in the next.
 */
export function renderDiscordParts(markdown: string, limit = DISCORD_MESSAGE_LIMIT): string[] {
  return splitMarkdown(markdown, limit);
}

/**
 * Keeps text from closing our code fence early: a zero-width space after every backtick that is
 * followed by another, so no two stay side by side (a run of four or more backticks, too).
 */
const defuseFences = (s: string) => s.replace(/`(?=`)/g, '`\u200b');

/**
 * An approval prompt: the tool and its arguments, with Approve/Deny buttons whose custom_id is
 * `approvalAction(...)`. The arguments are cut after defusing (which lengthens them), so the
 * content stays within Discord's 2000 characters whatever they hold; a longer one is refused
 * (50035) and the prompt would never be shown.
 */
export function approvalMessage(notice: ApprovalNotice): { content: string; components: unknown[] } {
  // Cut generously here (only to bound the work on huge arguments); the real cut is below.
  const { tool, argsJson } = approvalSummary(notice.tool, notice.arguments, 2 * DISCORD_MESSAGE_LIMIT);
  const head = `The assistant wants to run \`${tool}\`:\n\`\`\`json\n`;
  const tail = '\n```';
  const room = DISCORD_MESSAGE_LIMIT - head.length - tail.length;
  const defused = defuseFences(argsJson);
  const body = defused.length <= room ? defused : `${headOf(defused, room - 1)}…`;
  return {
    content: `${head}${body}${tail}`,
    components: [
      {
        type: 1, // action row
        components: [
          { type: 2, style: 3, label: 'Approve', custom_id: approvalAction(notice.id, 'approve') },
          { type: 2, style: 4, label: 'Deny', custom_id: approvalAction(notice.id, 'deny') },
        ],
      },
    ],
  };
}
