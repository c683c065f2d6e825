/**
 * Wire formats of the fake OpenAI server: chat.completion(.chunk) objects, error bodies and
 * deterministic embeddings. Pure functions, so the server module stays about I/O only.
 */

/** A chat message as the fake server receives it (loosely typed: it accepts what clients send). */
export interface FakeChatMessage {
  role: string;
  content?: string | Array<{ type: string; text?: string }> | null;
  name?: string;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** A recorded `POST /v1/chat/completions` body. */
export interface FakeChatRequest {
  model: string;
  messages: FakeChatMessage[];
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number;
  max_completion_tokens?: number;
  [key: string]: unknown;
}

/** A tool call the script wants the model to make; `arguments` objects are JSON-encoded. */
export interface FakeToolCall {
  id?: string;
  name: string;
  arguments: object | string;
}

/** What one completion answers with, before it is cut into chunks. */
export interface CompletionPlan {
  id: string;
  model: string;
  created: number;
  text: string;
  /** Characters per content delta; default: the whole text in one delta. */
  chunkSize: number | undefined;
  toolCalls: FakeToolCall[];
  finishReason: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** Concatenated text of a message's content (string or text parts). */
export function messageText(message: FakeChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((p) => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('\n');
}

/**
 * Texts of the user messages after the last assistant message, in order: the new input of the
 * current turn. The default (echo) script replies `echo: ` + these joined with '\n'.
 */
export function lastUserMessages(body: { messages?: FakeChatMessage[] }): string[] {
  const messages = body.messages ?? [];
  let start = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'assistant') {
      start = i + 1;
      break;
    }
  }
  return messages.slice(start).filter((m) => m.role === 'user').map(messageText);
}

/** A crude, deterministic token estimate (4 characters per token) for fake usage numbers. */
export function approxTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Fake prompt usage: content estimate plus 3 tokens of framing per message. */
export function promptTokens(body: FakeChatRequest): number {
  let total = 3;
  for (const m of body.messages ?? []) total += 3 + approxTokens(messageText(m));
  return total;
}

function toolCallArguments(call: FakeToolCall): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
}

function toolCallId(plan: CompletionPlan, call: FakeToolCall, index: number): string {
  return call.id ?? `call_${plan.id.slice(-8)}_${index}`;
}

function split(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts;
}

/**
 * The `chat.completion.chunk` objects of a streamed answer, as OpenAI sends them: a role chunk,
 * content deltas, each tool call as a header (id, name, empty arguments) followed by several
 * argument fragments, a finish chunk, and (with `includeUsage`) a usage chunk with no choices.
 */
export function completionChunks(plan: CompletionPlan, includeUsage: boolean): object[] {
  const base = { id: plan.id, object: 'chat.completion.chunk', created: plan.created, model: plan.model, system_fingerprint: null };
  const usageField = includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finishReason: string | null = null): object => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...usageField,
  });
  const chunks: object[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  if (plan.text !== '') {
    for (const part of split(plan.text, plan.chunkSize ?? plan.text.length)) chunks.push(chunk({ content: part }));
  }
  plan.toolCalls.forEach((call, index) => {
    chunks.push(
      chunk({
        tool_calls: [{ index, id: toolCallId(plan, call, index), type: 'function', function: { name: call.name, arguments: '' } }],
      }),
    );
    const args = toolCallArguments(call);
    // Real servers stream arguments a few characters at a time; always use several fragments.
    const size = Math.max(1, Math.min(16, Math.ceil(args.length / 3)));
    for (const fragment of split(args, size)) chunks.push(chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }));
  });
  chunks.push(chunk({}, plan.finishReason));
  if (includeUsage) chunks.push({ ...base, choices: [], usage: plan.usage });
  return chunks;
}

/** One SSE event carrying `value` as JSON. */
export function sseEvent(value: object): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/** The non-streaming `chat.completion` object for the same plan. */
export function completionObject(plan: CompletionPlan): object {
  const toolCalls = plan.toolCalls.map((call, index) => ({
    id: toolCallId(plan, call, index),
    type: 'function',
    function: { name: call.name, arguments: toolCallArguments(call) },
  }));
  return {
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: plan.text === '' && toolCalls.length > 0 ? null : plan.text,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: plan.finishReason,
      },
    ],
    usage: plan.usage,
  };
}

/** An OpenAI-style error body for `status`. */
export function errorBody(status: number, message?: string): object {
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message: message ?? `fake error ${status}`, type, param: null, code: null } };
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A deterministic unit-length pseudo-embedding by feature hashing: each lower-cased word adds
 * ±1 to one dimension and each of its character trigrams ±0.5 to another, so texts that share
 * words (or word stems) get a high cosine similarity, and unrelated texts a low one.
 */
export function fakeEmbedding(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  const add = (feature: string, weight: number): void => {
    const h = fnv1a(feature);
    vector[h % dimensions]! += h & 0x80000000 ? -weight : weight;
  };
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    add(`w:${word}`, 1);
    const padded = `^${word}$`;
    for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, 0.5);
  }
  let norm = 0;
  for (const v of vector) norm += v * v;
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) vector[i]! *= scale;
  return vector;
}
