import { storableText } from '@switchboard/contracts';
import type { ChatToolCall, LlmClient } from '@switchboard/llm';
import { countTokens } from '@switchboard/llm';

/** System prompt of the summarizer call (exported so model doubles can recognise the call). */
export const SUMMARY_SYSTEM_PROMPT =
  'You maintain the running summary of a conversation between a user and an assistant. ' +
  'Merge the summary so far with the new messages into one updated summary: what was discussed, decisions, open tasks, ' +
  'facts about the user and their preferences, and anything the assistant promised. Be concise and concrete; keep names, numbers and dates. ' +
  'Answer with the summary text only.';

/** A transcript row as compaction sees it. */
export interface CompactionRow {
  seq: number;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCalls: ChatToolCall[] | null;
  tokens: number | null;
  /**
   * The turn the row belongs to, when known: a turn may open with several user messages (collect
   * mode), and a range then ends only where one turn gives way to the next, never inside a turn.
   */
  turn_id?: string | undefined;
}

export interface CompactionPolicy {
  /** Compact once the unsummarized transcript costs more than this many tokens. */
  triggerTokens: number;
  /** Keep at least this many of the newest tokens out of the summary (they stay verbatim in context). */
  keepTokens: number;
  /** Most tokens summarized in one call; the rest waits for the next turn. */
  maxChunkTokens: number;
  /**
   * The context reads at most this many of the newest messages after the summary (its history
   * window): more unsummarized messages than that triggers a compaction however few tokens they
   * hold (messages older than the window would be in neither the summary nor the prompt), which
   * leaves about half the window verbatim (back to a turn boundary).
   */
  maxRows?: number;
}

/** The tokens one row costs in a prompt (the chat format's per-message overhead included). */
export function rowTokens(row: CompactionRow): number {
  const content = row.tokens ?? countTokens(row.content);
  const calls = row.toolCalls?.length ? countTokens(JSON.stringify(row.toolCalls)) : 0;
  return content + calls + 4;
}

/** Whether `row` opens a turn (`previous` being the row before it): a user message, of another turn than `previous` when both say. */
function startsTurn(previous: CompactionRow, row: CompactionRow): boolean {
  if (row.role !== 'user') return false;
  return row.turn_id === undefined || previous.turn_id === undefined || row.turn_id !== previous.turn_id;
}

/**
 * Which rows to summarize: the oldest ones, ending right before a user message (a turn boundary,
 * so a tool call is never separated from its result), leaving at least `keepTokens` of the newest
 * history verbatim. Undefined when the transcript is within `triggerTokens` or no boundary fits.
 */
export function planCompaction(rows: readonly CompactionRow[], policy: CompactionPolicy): { from: number; to: number; tokens: number } | undefined {
  const costs = rows.map(rowTokens);
  const total = costs.reduce((a, b) => a + b, 0);
  const overWindow = policy.maxRows !== undefined && rows.length > policy.maxRows;
  if (total <= policy.triggerTokens && !overWindow) return undefined;
  // Latest cut that keeps keepTokens verbatim (and, past the window, no more than half of it).
  let kept = 0;
  let cut = rows.length;
  while (cut > 0 && kept < policy.keepTokens) kept += costs[--cut]!;
  if (overWindow) cut = Math.max(cut, rows.length - Math.floor(policy.maxRows! / 2));
  let best = -1;
  let prefix = 0;
  let bestTokens = 0;
  for (let i = 1; i <= cut; i++) {
    prefix += costs[i - 1]!;
    if (i < rows.length && startsTurn(rows[i - 1]!, rows[i]!)) {
      if (prefix <= policy.maxChunkTokens || best === -1) {
        best = i;
        bestTokens = prefix;
      }
      if (prefix > policy.maxChunkTokens) break;
    }
  }
  if (best <= 0) return undefined;
  return { from: rows[0]!.seq, to: rows[best - 1]!.seq, tokens: bestTokens };
}

const MAX_TOOL_CHARS = 600;

/** The rows as the summarizer reads them. */
export function transcriptText(rows: readonly CompactionRow[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    if (r.role === 'user') lines.push(`User: ${r.content}`);
    else if (r.role === 'assistant') {
      if (r.content) lines.push(`Assistant: ${r.content}`);
      for (const c of r.toolCalls ?? []) lines.push(`Assistant called ${c.function.name}(${c.function.arguments.slice(0, MAX_TOOL_CHARS)})`);
    } else if (r.role === 'tool') lines.push(`Tool result: ${r.content.length > MAX_TOOL_CHARS ? `${r.content.slice(0, MAX_TOOL_CHARS)}…` : r.content}`);
    else lines.push(`System: ${r.content}`);
  }
  return lines.join('\n');
}

/** Asks the summarizer model for the updated summary. */
export async function summarize(llm: LlmClient, previous: string | undefined, rows: readonly CompactionRow[], maxTokens: number): Promise<string> {
  const completion = await llm.complete({
    messages: [
      { role: 'system', content: SUMMARY_SYSTEM_PROMPT },
      { role: 'user', content: `Summary so far:\n${previous ?? '(none)'}\n\nNew messages, oldest first:\n${transcriptText(rows)}\n\nWrite the updated summary in at most ${Math.floor(maxTokens * 0.7)} words.` },
    ],
    maxTokens,
  });
  return storableText(completion.content.trim());
}
