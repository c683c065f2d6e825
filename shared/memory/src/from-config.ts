import type { Registry } from 'prom-client';
import type { Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';
import { MemoryStore } from './memory-store.ts';
import type { ScopeMarks } from './scope-marks.ts';

/** The configuration fields memory reads (a subset of CommonEnv). */
export interface MemoryConfig {
  EMBEDDING_MODEL?: string | undefined;
  EMBEDDING_BASE_URL?: string | undefined;
  EMBEDDING_API_KEY?: string | undefined;
  EMBEDDING_DIMENSIONS?: number | undefined;
  OPENAI_BASE_URL?: string | undefined;
  OPENAI_API_KEY?: string | undefined;
}

/**
 * A {@link MemoryStore} from configuration: with `EMBEDDING_MODEL` and an endpoint
 * (`EMBEDDING_BASE_URL`, else `OPENAI_BASE_URL`, else OpenAI's when `OPENAI_API_KEY` is set) it
 * embeds and retrieves hybrid; otherwise keyword-only, never with a made-up vector. `marks`: the
 * scope marks every process that writes memories shares (see {@link ScopeMarks}).
 */
export function memoryFromConfig(db: Db, config: MemoryConfig, deps: { logger: Logger; registry: Registry; marks?: ScopeMarks | undefined }): MemoryStore {
  const baseURL = config.EMBEDDING_BASE_URL ?? config.OPENAI_BASE_URL ?? (config.OPENAI_API_KEY ? 'https://api.openai.com/v1' : undefined);
  const embedder =
    config.EMBEDDING_MODEL && baseURL
      ? new EmbeddingClient(
          db,
          { baseURL, apiKey: config.EMBEDDING_API_KEY ?? config.OPENAI_API_KEY, model: config.EMBEDDING_MODEL, dimensions: config.EMBEDDING_DIMENSIONS },
          memoryMetrics(deps.registry),
          deps.logger,
        )
      : undefined;
  if (config.EMBEDDING_MODEL && !baseURL) deps.logger.warn('EMBEDDING_MODEL is set but no endpoint is (EMBEDDING_BASE_URL or OPENAI_BASE_URL): memory retrieval is keyword-only');
  return new MemoryStore(db, { logger: deps.logger, registry: deps.registry, embedder, marks: deps.marks });
}
