import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ChatMessage } from './types.ts';

interface Encoding {
  countTokens(text: string, opts?: { disallowedSpecial?: Set<string> }): number;
  setMergeCacheSize(size: number): void;
}

interface GptEncodingModule {
  GptEncoding: { getEncodingApi(name: 'o200k_base', ranks: () => Array<string | number[]>): Encoding };
}

/** Tokens every message costs besides its content (OpenAI cookbook, gpt-4o family). */
const TOKENS_PER_MESSAGE = 3;
/** Extra token when a message carries a `name`. */
const TOKENS_PER_NAME = 1;
/** Every reply is primed with `<|start|>assistant<|message|>`. */
const TOKENS_REPLY_PRIMING = 3;
/** Rough per-tool-call framing (id, type, braces), beyond its name and arguments. */
const TOKENS_PER_TOOL_CALL = 4;
/** A low-detail image; the real cost of high detail depends on the size, unknown here. */
const TOKENS_PER_IMAGE = 85;
/** Bounds the tokenizer's merge cache (library default 100k entries) to keep memory flat. */
const MERGE_CACHE_ENTRIES = 10_000;

// Special-token text inside user content is counted as plain text instead of throwing.
const NO_DISALLOWED_SPECIAL = { disallowedSpecial: new Set<string>() };

let encoding: Encoding | undefined;

/**
 * The o200k_base ranks read from the package's `.tiktoken` file (one `base64 rank` per line), in
 * the library's own format: UTF-8 tokens as strings, others (and BOM-led ones) as byte arrays.
 * Loading this instead of the package's 2.4 MB generated JS module saves about 15 MiB of RSS.
 */
export function readO200kRanks(require: NodeJS.Require = createRequire(import.meta.url)): Array<string | number[]> {
  const text = readFileSync(require.resolve('gpt-tokenizer/data/o200k_base.tiktoken'), 'latin1');
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const ranks: Array<string | number[]> = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const space = text.indexOf(' ', start);
    if (space > start && space < end) {
      const bytes = Buffer.from(text.slice(start, space), 'base64');
      let token: string | number[];
      try {
        token = decoder.decode(bytes);
        if (token.charCodeAt(0) === 0xfeff) token = Array.from(bytes);
      } catch {
        token = Array.from(bytes);
      }
      ranks[Number(text.slice(space + 1, end))] = token;
    }
    start = end + 1;
  }
  return ranks;
}

/**
 * Loads the o200k_base encoding once. It takes about 0.4 s of CPU and keeps about 15 MiB of heap
 * (RSS grows by about 40 MiB), so it happens on first use rather than at import; call this during
 * start-up to pay that cost before the first turn instead of during it.
 */
export function loadTokenizer(): void {
  if (encoding !== undefined) return;
  // A synchronous require of the CommonJS build keeps countTokens synchronous and lazy.
  const require = createRequire(import.meta.url);
  const { GptEncoding } = require('gpt-tokenizer/GptEncoding') as GptEncodingModule;
  const loaded = GptEncoding.getEncodingApi('o200k_base', () => readO200kRanks(require));
  loaded.setMergeCacheSize(MERGE_CACHE_ENTRIES);
  encoding = loaded;
}

/** Whether the encoding has been loaded (by a count or by {@link loadTokenizer}). */
export function isTokenizerLoaded(): boolean {
  return encoding !== undefined;
}

/** Texts of this many characters have their counts remembered (tool schemas and system prompts recur every turn). */
const MEMO_MIN_CHARS = 256;
const MEMO_MAX_CHARS = 64 * 1024;
/** Most remembered counts; the oldest is dropped first. */
const MEMO_ENTRIES = 64;
const memo = new Map<string, number>();

/** Number of o200k_base tokens in `text` (the encoding of GPT-4o and later OpenAI models). */
export function countTokens(text: string): number {
  if (text === '') return 0;
  // Counting the same tool schemas (~10 KB of JSON) on every turn was the agent worker's largest
  // CPU cost after I/O; a lookup hashes and compares the string instead of tokenizing it.
  const long = text.length >= MEMO_MIN_CHARS && text.length <= MEMO_MAX_CHARS;
  if (long) {
    const known = memo.get(text);
    if (known !== undefined) return known;
  }
  loadTokenizer();
  const n = encoding!.countTokens(text, NO_DISALLOWED_SPECIAL);
  if (long) {
    if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
    memo.set(text, n);
  }
  return n;
}

function contentTokens(content: ChatMessage['content']): number {
  if (content === null) return 0;
  if (typeof content === 'string') return countTokens(content);
  let total = 0;
  for (const part of content) total += part.type === 'text' ? countTokens(part.text) : TOKENS_PER_IMAGE;
  return total;
}

/**
 * Tokens a list of messages takes in a prompt, counted as in OpenAI's cookbook: 3 per message,
 * its role and content, 1 more for a `name`, and 3 for priming the reply. Tool calls count their
 * name and arguments plus a little framing. Exact for text; an estimate for images and tools.
 */
export function countMessageTokens(messages: readonly ChatMessage[]): number {
  let total = TOKENS_REPLY_PRIMING;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + countTokens(message.role) + contentTokens(message.content);
    if ('name' in message && message.name) total += TOKENS_PER_NAME + countTokens(message.name);
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls) {
        total += TOKENS_PER_TOOL_CALL + countTokens(call.function.name) + countTokens(call.function.arguments);
      }
    }
    if (message.role === 'tool') total += countTokens(message.tool_call_id);
  }
  return total;
}
