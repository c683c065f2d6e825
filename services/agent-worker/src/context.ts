import { countMessageTokens, countTokens, toolsJson, type ChatMessage, type LlmTool } from '@switchboard/llm';
import { toChatMessage, type TranscriptEntry } from './transcript.ts';

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
 * (best first), then the summary if it fits its share. Neither takes more than the `room` the
 * prompt, the current turn and the tools leave. Kept in one system message because some
 * OpenAI-compatible servers accept only one.
 */
function systemMessage(input: ContextInput, room: number): { message: ChatMessage; memoriesUsed: number; summaryUsed: boolean } {
  let content = input.systemPrompt;
  let memoriesUsed = 0;
  let left = room;
  const memories = input.memories ?? [];
  if (memories.length > 0) {
    const cap = Math.min(left, Math.floor(input.budgetTokens * (input.memoryShare ?? 0.15)));
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
      left -= used;
    }
  }
  let summaryUsed = false;
  if (input.summary && countTokens(input.summary) + 12 <= Math.min(left, Math.floor(input.budgetTokens * (input.summaryShare ?? 0.25)))) {
    content += `\n\n${SUMMARY_HEADING}\n${input.summary}`;
    summaryUsed = true;
  }
  return { message: { role: 'system', content }, memoriesUsed, summaryUsed };
}

/**
 * Where each unit of the history starts and ends (exclusive): a unit is one message, or an
 * assistant message that called tools together with the tool results that follow it, which must
 * stay together. A tool result outside such a unit (its call fell out of the window) belongs to none:
 * it means nothing alone. Indexes rather than arrays of entries: this runs every turn over a
 * history of up to hundreds of messages.
 */
function unitBounds(history: readonly TranscriptEntry[]): { starts: number[]; ends: number[] } {
  const starts: number[] = [];
  const ends: number[] = [];
  let open = false; // whether the last unit is an assistant message with tool calls, still taking results
  for (let i = 0; i < history.length; i++) {
    const entry = history[i]!;
    if (entry.role === 'tool') {
      if (open) ends[ends.length - 1] = i + 1;
      continue;
    }
    starts.push(i);
    ends.push(i + 1);
    open = (entry.toolCalls?.length ?? 0) > 0;
  }
  return { starts, ends };
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

/**
 * Each history entry's chat message and its tokens, made once: a session's history is kept between
 * its turns (the history cache), and each entry takes part in up to that many turns' contexts.
 * Entries are never changed once written, and neither are the messages made from them.
 */
const prepared = new WeakMap<TranscriptEntry, { message: ChatMessage; tokens: number }>();

function prepare(entry: TranscriptEntry): { message: ChatMessage; tokens: number } {
  let p = prepared.get(entry);
  if (p === undefined) {
    const message = toChatMessage(entry);
    p = { message, tokens: entryTokens(entry, message) };
    prepared.set(entry, p);
  }
  return p;
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
  // Messages count one by one (plus the reply priming once): the current turn is counted once.
  const fixed = countMessageTokens(input.current) + toolTokens(input.tools);
  const bare: ChatMessage = { role: 'system', content: input.systemPrompt };
  const extras = (input.memories?.length ?? 0) > 0 || input.summary !== undefined;
  // A few tokens spare: the parts' counts add up to the whole's only nearly (tokens at the joins).
  const room = extras ? input.budgetTokens - fixed - (countMessageTokens([bare]) - 3) - 4 : 0;
  const { message: system, memoriesUsed, summaryUsed } = extras ? systemMessage(input, room) : { message: bare, memoriesUsed: 0, summaryUsed: false };
  let used = fixed + countMessageTokens([system]) - 3;
  const { history } = input;
  const { starts, ends } = unitBounds(history);
  let i = starts.length - 1;
  for (; i >= 0; i--) {
    let cost = 0;
    for (let k = starts[i]!; k < ends[i]!; k++) cost += prepare(history[k]!).tokens;
    if (used + cost > input.budgetTokens) break;
    used += cost;
  }
  let dropped = 0;
  for (let j = 0; j <= i; j++) dropped += ends[j]! - starts[j]!;
  // The kept units, oldest first. A kept window never starts with a tool result: some servers
  // reject a leading one, and a result is only ever kept with its call.
  const messages: ChatMessage[] = [system];
  for (let u = i + 1; u < starts.length; u++) for (let k = starts[u]!; k < ends[u]!; k++) messages.push(prepare(history[k]!).message);
  for (const m of input.current) messages.push(m);
  return { messages, tokens: used, droppedMessages: dropped, memoriesUsed, summaryUsed };
}
