import type { ToolDefinition } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type { Registry } from 'prom-client';

/** A tool call as it appears in an assistant message (OpenAI wire shape). */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One part of a multi-part user message (OpenAI wire shape). */
export type ChatContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

/**
 * A chat message, structurally compatible with the OpenAI SDK's `ChatCompletionMessageParam`,
 * so it can be stored in a transcript and sent as it is.
 */
export type ChatMessage =
  | { role: 'system'; content: string; name?: string }
  | { role: 'user'; content: string | ChatContentPart[]; name?: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[]; name?: string }
  | { role: 'tool'; content: string; tool_call_id: string };

/** The part of a {@link ToolDefinition} the model sees. */
export type LlmTool = Pick<ToolDefinition, 'name' | 'description' | 'parameters'>;

/** One completion request. */
export interface LlmRequest {
  messages: ChatMessage[];
  /** Tools offered to the model; sent as native `type: 'function'` tools. */
  tools?: readonly LlmTool[];
  /**
   * Aborts the HTTP request (and any retry wait) promptly; `complete()` then rejects with a
   * `DOMException` whose `name` is `'AbortError'` and whose `cause` is `signal.reason`.
   */
  signal?: AbortSignal;
  /**
   * Called synchronously with each text fragment as it streams in. Once it has been called, the
   * request is never retried or sent to a fallback model. If it throws, the request is aborted
   * and the error is rethrown unchanged.
   */
  onDelta?: (text: string) => void;
  /** Upper bound on generated tokens; unset lets the server decide. */
  maxTokens?: number;
  /** `'none'`: the tools stay defined (earlier calls in the messages remain valid) but the model must answer in text. */
  toolChoice?: 'none';
}

/** A tool call the model asked for. `argumentsJson` is the raw JSON text, not yet validated. */
export interface LlmToolCall {
  id: string;
  name: string;
  argumentsJson: string;
}

/** The assembled result of one streamed completion. */
export interface LlmCompletion {
  /** The full assistant text (empty when the model only called tools). */
  content: string;
  toolCalls: LlmToolCall[];
  /** The configured model name that produced this answer (the primary or a fallback). */
  model: string;
  /** As reported by the server: `stop`, `tool_calls`, `length`, `content_filter`, … */
  finishReason: string;
  /** Token usage reported by the server; zeros if the server did not report usage. */
  usage: { promptTokens: number; completionTokens: number };
}

/** A chat-completions client with retries, fallback models and metrics. */
export interface LlmClient {
  /** The primary model name. */
  readonly model: string;
  /**
   * Streams one completion. Rejects with a `SwitchboardError` (`remote_error` with `status`,
   * `rate_limited` with status 429, `remote_unreachable`, `timeout`; `retryable` says whether a
   * later retry can help), with a `DOMException` named `AbortError` when `signal` aborts, or with
   * exactly what `onDelta` threw.
   */
  complete(req: LlmRequest): Promise<LlmCompletion>;
}

/** Options for {@link LlmClient}; see `createLlmClient`. */
export interface LlmClientOptions {
  /** Base URL of any OpenAI-compatible server, ending in `/v1`. Default `https://api.openai.com/v1`. */
  baseURL?: string;
  /** Bearer key. Optional because local servers often need none (a placeholder is sent). */
  apiKey?: string;
  /** Primary model name. */
  model: string;
  /** Tried in order once the primary model has failed with a retryable error or a 404. */
  fallbackModels?: string[];
  /** Retries per model after the first attempt, on 408/429/5xx, connection errors and timeouts. Default 2. */
  maxRetries?: number;
  /**
   * Inactivity timeout per attempt in milliseconds: the longest wait for the response headers
   * and then between two streamed chunks. Default 120000.
   */
  timeoutMs?: number;
  /** First backoff delay in milliseconds, doubled per retry, with up to 25% jitter. Default 500. */
  retryBaseDelayMs?: number;
  /** Cap on one computed backoff delay in milliseconds. Default 8000. */
  retryMaxDelayMs?: number;
  /**
   * Longest server-requested wait (`Retry-After`, `retry-after-ms`) honoured, in milliseconds.
   * A longer request skips straight to the next fallback model. Default 60000.
   */
  maxRetryAfterMs?: number;
  /** Request field used for `maxTokens`. Default `max_completion_tokens`; older servers want `max_tokens`. */
  maxTokensField?: 'max_completion_tokens' | 'max_tokens';
  /** The HTTP client under the SDK; default: plain node:http requests (see http-fetch.ts), one client per process. */
  fetch?: typeof fetch;
  /** Metrics are registered here (idempotently: two clients may share one registry). */
  registry: Registry;
  logger: Logger;
}
