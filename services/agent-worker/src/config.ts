import { z } from 'zod';
import { CommonEnv, csv, int, optionalString, parseEnv, type Env } from '@switchboard/config';

/** `model=tokens,…`: per-model prompt budgets. */
const budgets = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const out: Record<string, number> = {};
    for (const part of (v ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.lastIndexOf('=');
      const n = Number(part.slice(eq + 1));
      if (eq <= 0 || !Number.isInteger(n) || n < 256) {
        ctx.addIssue({ code: 'custom', message: 'expected model=tokens pairs (tokens ≥ 256), comma-separated' });
        return z.NEVER;
      }
      out[part.slice(0, eq).trim()] = n;
    }
    return out;
  });

export const AgentWorkerEnv = CommonEnv.extend({
  /** Port of the ops server (/healthz, /readyz, /metrics). */
  PORT: int(9101, { min: 0, max: 65535 }),
  /** Platforms whose service consumes an `outbound-<platform>` queue (the web reads the event stream). */
  QUEUED_PLATFORMS: csv.transform((v) => (v.length > 0 ? v : ['telegram', 'slack', 'discord', 'whatsapp'])),
  /**
   * Per-model prompt budgets, `model=tokens,…` (e.g. `gpt-4o-mini=32000,llama3=8000`). A turn
   * uses the smallest budget among LLM_MODEL and LLM_FALLBACK_MODELS, so the prompt fits whichever
   * answers; models not listed get CONTEXT_TOKEN_BUDGET.
   */
  CONTEXT_TOKEN_BUDGETS: budgets,
  /** Model for compaction summaries and memory extraction; default LLM_MODEL. */
  SUMMARIZER_MODEL: optionalString,
  /**
   * Long-term memory extraction: `turn` (default) extracts facts after every turn and flushes
   * before compaction; `compaction` only flushes before compaction; `off` extracts nothing (the
   * remember tool still works).
   */
  MEMORY_EXTRACTION: z.enum(['turn', 'compaction', 'off']).optional().transform((v) => v ?? 'turn'),
  /** Memories retrieved per turn (before fitting the budget). */
  MEMORY_RECALL_LIMIT: int(8, { min: 0, max: 50 }),
  /**
   * MiB of transcript history a worker keeps from each session's last turn, so that the session's
   * next turn on the same worker does not read it from the database again; 0 turns it off.
   */
  HISTORY_CACHE_MB: int(16, { min: 0, max: 4096 }),
});
export type AgentWorkerConfig = z.infer<typeof AgentWorkerEnv>;

export function loadAgentWorkerConfig(env: Env = process.env): AgentWorkerConfig {
  return parseEnv(AgentWorkerEnv, env);
}

/** The prompt budget for a model list: the smallest configured one, else CONTEXT_TOKEN_BUDGET. */
export function contextBudgetFor(config: Pick<AgentWorkerConfig, 'CONTEXT_TOKEN_BUDGET' | 'CONTEXT_TOKEN_BUDGETS'>, models: readonly string[]): number {
  const known = models.map((m) => config.CONTEXT_TOKEN_BUDGETS[m] ?? config.CONTEXT_TOKEN_BUDGET);
  return known.length > 0 ? Math.min(...known) : config.CONTEXT_TOKEN_BUDGET;
}
