import { z } from 'zod';
import { csv, int, logLevel, optionalString, parseEnv, urlString, type Env } from './parse.ts';

/** Variables every Switchboard process understands (see DESIGN.md, external contract). */
export const CommonEnv = z.object({
  DATA_DIR: optionalString,
  REDIS_URL: urlString(['redis:', 'rediss:'], { absolutePath: true }),
  DATABASE_URL: urlString(['postgres:', 'postgresql:']),
  LOG_LEVEL: logLevel,
  /** Key prefix for Redis and BullMQ, so several deployments (or tests) can share one Redis. */
  SWITCHBOARD_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/)
    .optional()
    .transform((v) => v ?? 'sb'),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: urlString(['http:', 'https:']),
  LLM_MODEL: optionalString,
  LLM_FALLBACK_MODELS: csv,
  LLM_TIMEOUT_MS: int(120_000, { min: 100 }),
  LLM_MAX_RETRIES: int(2, { min: 0, max: 10 }),
  /** Embedding model for long-term memory; unset: memory retrieval is keyword-only. */
  EMBEDDING_MODEL: optionalString,
  /** OpenAI-compatible base URL (ending in /v1) for embeddings; default OPENAI_BASE_URL. */
  EMBEDDING_BASE_URL: urlString(['http:', 'https:']),
  /** Bearer key for EMBEDDING_BASE_URL; default OPENAI_API_KEY. */
  EMBEDDING_API_KEY: optionalString,
  /** Ask the embeddings endpoint for vectors of this size (text-embedding-3 and compatible); default: the model's own. */
  EMBEDDING_DIMENSIONS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).max(16_000).optional()),
  TOOLS_ENABLED: optionalString.transform((v) => (v === undefined ? undefined : csv.parse(v))),
  TOOLS_ASK: csv,
  /** YAML or JSON policy rules (allow, deny, ask) by tool, agent, channel, user and arguments. */
  POLICY_FILE: optionalString,
  /** How long an approval request waits for a human before the call is denied, in ms (default 10 min). */
  APPROVAL_TIMEOUT_MS: int(600_000, { min: 1_000 }),
  /** Name of the agent turns run as (policy scope; one agent per deployment for now). */
  AGENT_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional().transform((v) => v ?? 'default'),
  /** Milliseconds a worker holds a turn before it counts as stalled; the lease is renewed meanwhile. */
  TURN_LEASE_MS: int(8_000, { min: 1_000 }),
  /** How many turns one agent-worker process runs at once. */
  TURN_CONCURRENCY: int(50, { min: 1, max: 10_000 }),
  /** How many tool runs one tool-runner process runs at once. */
  TOOL_CONCURRENCY: int(8, { min: 1, max: 1_000 }),
  /**
   * collect (default): messages that arrive during a turn form the next turn; followup: one turn
   * per message; interrupt: a new message aborts the running turn, which starts over with it.
   */
  LANE_MODE: z.enum(['collect', 'followup', 'interrupt']).optional().transform((v) => v ?? 'collect'),
  /** Most messages one collected turn takes from the inbox. */
  LANE_MAX_BATCH: int(20, { min: 1, max: 1_000 }),
  SYSTEM_PROMPT: optionalString,
  /** Token budget for the prompt (system + history + new input). */
  CONTEXT_TOKEN_BUDGET: int(16_000, { min: 256 }),
  MAX_TOOL_STEPS: int(8, { min: 1, max: 100 }),
  /**
   * Opt-in heartbeat, JSON: `{ "sessionId": "...", "everyMs": 1800000, "account"?: "local",
   * "activeHours"?: "08:00-22:00", "timezone"?: "Europe/Berlin", "prompt"?: "...",
   * "maxTokens"?: 200, "contextTokens"?: 2000 }`. The assistant checks in on that web session and
   * stays silent when it has nothing to say.
   */
  HEARTBEAT: optionalString,
  /** Most schedules one conversation may have at once (its session and the isolated ones made from it). */
  SCHEDULES_MAX_PER_CONVERSATION: int(100, { min: 1, max: 100_000 }),
  /** Most schedules one account may have at once. */
  SCHEDULES_MAX_PER_ACCOUNT: int(10_000, { min: 1, max: 10_000_000 }),
});
export type CommonConfig = z.infer<typeof CommonEnv>;

export function loadCommonConfig(env: Env): CommonConfig {
  return parseEnv(CommonEnv, env);
}
