export { createLlmClient, toolsJson } from './llm-client.ts';
export { countTokens, countMessageTokens, loadTokenizer, isTokenizerLoaded } from './tokens.ts';
export { parseRetryAfterMs, backoffDelayMs } from './retry.ts';
export type {
  ChatMessage,
  ChatContentPart,
  ChatToolCall,
  LlmClient,
  LlmClientOptions,
  LlmCompletion,
  LlmRequest,
  LlmTool,
  LlmToolCall,
} from './types.ts';
export type { LlmOutcome } from './metrics.ts';
