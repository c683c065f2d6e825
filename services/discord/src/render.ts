import { approvalAction, approvalSummary, splitMarkdown } from '@switchboard/channels';
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

/** Keeps text from closing our code fence early. */
const defuseFences = (s: string) => s.replace(/```/g, '`\u200b``');

/** An approval prompt: the tool and its arguments, with Approve/Deny buttons whose custom_id is `approvalAction(...)`. */
export function approvalMessage(notice: ApprovalNotice): { content: string; components: unknown[] } {
  const { tool, argsJson } = approvalSummary(notice.tool, notice.arguments, 1500);
  return {
    content: `The assistant wants to run \`${tool}\`:\n\`\`\`json\n${defuseFences(argsJson)}\n\`\`\``,
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
