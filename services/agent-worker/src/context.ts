import { countMessageTokens, countTokens, toolsJson, type ChatMessage, type LlmTool } from '@switchboard/llm';
import { toChatMessages, type TranscriptEntry } from './transcript.ts';

export interface ContextInput {
  systemPrompt: string;
  history: TranscriptEntry[];
  /** This turn's new input and the steps it already took; always sent whole. */
  current: ChatMessage[];
  tools: readonly LlmTool[];
  /** Most prompt tokens to send, counted with the model's tokenizer. */
  budgetTokens: number;
  /** Long-term memories relevant to this turn, best first; the lowest-ranked are left out to fit. */
  memories?: readonly string[] | undefined;
  /** The latest compaction summary of the turns before `history`. */
  summary?: string | undefined;
  /** Most of the budget memories may take (default 0.15) and the summary (default 0.25). */
  memoryShare?: number;
  summaryShare?: number;
}

export interface BuiltContext {
  messages: ChatMessage[];
  /** Prompt tokens of `messages` plus tool schemas, by the local tokenizer. */
  tokens: number;
  /** History messages left out to fit the budget. */
  droppedMessages: number;
  /** How many of the given memories made it into the prompt. */
  memoriesUsed: number;
  summaryUsed: boolean;
}

export const MEMORIES_HEADING = '## What you remember (long-term memory; may be outdated)';
export const SUMMARY_HEADING = '## Summary of the earlier conversation';

/**
 * The system message: the system prompt, then the memories that fit their share of the budget
 * (best first), then the summary if it fits its share. Kept in one system message because some
 * OpenAI-compatible servers accept only one.
 */
function systemMessage(input: ContextInput): { message: ChatMessage; memoriesUsed: number; summaryUsed: boolean } {
  let content = input.systemPrompt;
  let memoriesUsed = 0;
  const memories = input.memories ?? [];
  if (memories.length > 0) {
    const cap = Math.floor(input.budgetTokens * (input.memoryShare ?? 0.15));
    let used = countTokens(MEMORIES_HEADING) + 2;
    const lines: string[] = [];
    for (const m of memories) {
      const line = `- ${m.replace(/\s+/g, ' ').trim()}`;
      const cost = countTokens(line) + 1;
      if (used + cost > cap) continue; // a shorter, lower-ranked memory may still fit
      used += cost;
      lines.push(line);
    }
    if (lines.length > 0) {
      content += `\n\n${MEMORIES_HEADING}\n${lines.join('\n')}`;
      memoriesUsed = lines.length;
    }
  }
  let summaryUsed = false;
  if (input.summary && countTokens(input.summary) + 12 <= Math.floor(input.budgetTokens * (input.summaryShare ?? 0.25))) {
    content += `\n\n${SUMMARY_HEADING}\n${input.summary}`;
    summaryUsed = true;
  }
  return { message: { role: 'system', content }, memoriesUsed, summaryUsed };
}

/**
 * Splits history into units that must stay together: an assistant message that called tools is
 * never separated from the tool results that answer it.
 */
function toUnits(history: TranscriptEntry[]): TranscriptEntry[][] {
  const units: TranscriptEntry[][] = [];
  for (const entry of history) {
    const last = units[units.length - 1];
    if (entry.role === 'tool' && last && last.length > 0 && (last[0]!.toolCalls?.length ?? 0) > 0) last.push(entry);
    else if (entry.role === 'tool') continue; // an orphaned result (its call fell out of the window) means nothing alone
    else units.push([entry]);
  }
  return units;
}

/** Per-message overhead of the chat format (OpenAI cookbook), as in countMessageTokens. */
const TOKENS_PER_MESSAGE = 3;

/** Tokens of each role's name (one token each in the tokenizers in use; counted once). */
const roleTokens = new Map<string, number>();

/**
 * Tokens one history message costs, as countMessageTokens counts it: from the content's count
 * stored with it when there is one, plus the message's frame (its role, a tool result's call id).
 */
function entryTokens(entry: TranscriptEntry, message: ChatMessage): number {
  if (entry.tokens !== undefined && entry.tokens > 0 && !entry.toolCalls?.length && !('name' in message && message.name)) {
    let role = roleTokens.get(message.role);
    if (role === undefined) roleTokens.set(message.role, (role = countTokens(message.role)));
    return entry.tokens + TOKENS_PER_MESSAGE + role + (message.role === 'tool' ? countTokens(message.tool_call_id) : 0);
  }
  return countMessageTokens([message]) - 3; // minus the reply priming, counted once for the whole prompt
}

/** The tools' JSON last counted and its tokens (`toolsJson` returns the same string for the same tools). */
let countedTools: { json: string; tokens: number } | undefined;

/** Tokens of the tool schemas as sent on the wire. */
function toolTokens(tools: readonly LlmTool[]): number {
  if (tools.length === 0) return 0;
  const json = toolsJson(tools);
  if (countedTools?.json !== json) countedTools = { json, tokens: countTokens(json) };
  return countedTools.tokens;
}

/**
 * Fits the system prompt (with the relevant memories and the latest summary, each within its
 * share of the budget), the newest history that fits and the current turn into the budget.
 * History is taken newest first, a whole unit at a time (a tool call is never split from its
 * result); the current turn is never cut.
 */
export function buildContext(input: ContextInput): BuiltContext {
  const { message: system, memoriesUsed, summaryUsed } = systemMessage(input);
  let used = countMessageTokens([system, ...input.current]) + toolTokens(input.tools);
  const units = toUnits(input.history);
  const kept: ChatMessage[][] = [];
  let dropped = 0;
  let i = units.length - 1;
  for (; i >= 0; i--) {
    const unit = units[i]!;
    const messages = toChatMessages(unit);
    const cost = unit.reduce((n, e, k) => n + entryTokens(e, messages[k]!), 0);
    if (used + cost > input.budgetTokens) break;
    used += cost;
    kept.push(messages);
  }
  for (let j = 0; j <= i; j++) dropped += units[j]!.length;
  // A kept window must not start with an assistant reply to a dropped question: harmless, but
  // some servers reject a leading tool result, which toUnits already prevents.
  const history = kept.reverse().flat();
  return { messages: [system, ...history, ...input.current], tokens: used, droppedMessages: dropped, memoriesUsed, summaryUsed };
}
