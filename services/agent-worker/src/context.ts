import { countMessageTokens, countTokens, type ChatMessage, type LlmTool } from '@switchboard/llm';
import { toChatMessages, type TranscriptEntry } from './transcript.ts';

export interface ContextInput {
  systemPrompt: string;
  history: TranscriptEntry[];
  /** This turn's new input and the steps it already took; always sent whole. */
  current: ChatMessage[];
  tools: readonly LlmTool[];
  /** Most prompt tokens to send, counted with the model's tokenizer. */
  budgetTokens: number;
}

export interface BuiltContext {
  messages: ChatMessage[];
  /** Prompt tokens of `messages` plus tool schemas, by the local tokenizer. */
  tokens: number;
  /** History messages left out to fit the budget. */
  droppedMessages: number;
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

/** Tokens one history message costs, from the count stored with it when there is one. */
function entryTokens(entry: TranscriptEntry, message: ChatMessage): number {
  if (entry.tokens !== undefined && entry.tokens > 0 && !entry.toolCalls?.length) return entry.tokens + TOKENS_PER_MESSAGE;
  return countMessageTokens([message]) - 3; // minus the reply priming, counted once for the whole prompt
}

/**
 * Fits the system prompt, the newest history that fits and the current turn into the budget.
 * History is taken newest first, a whole unit at a time; the current turn is never cut.
 */
export function buildContext(input: ContextInput): BuiltContext {
  const system: ChatMessage = { role: 'system', content: input.systemPrompt };
  const toolTokens = input.tools.length > 0 ? countTokens(JSON.stringify(input.tools)) : 0;
  let used = countMessageTokens([system, ...input.current]) + toolTokens;
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
  return { messages: [system, ...history, ...input.current], tokens: used, droppedMessages: dropped };
}
