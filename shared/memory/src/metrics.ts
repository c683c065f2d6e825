import type { Registry } from 'prom-client';
import { counter, histogram, LATENCY_BUCKETS_SECONDS } from '@switchboard/observability';

/** The memory subsystem's metrics (registered idempotently: several services may share a registry). */
export function memoryMetrics(registry: Registry) {
  return {
    embeddingRequests: counter(registry, {
      name: 'switchboard_memory_embedding_requests_total',
      help: 'Embedding API requests by outcome (ok, error)',
      labelNames: ['outcome'] as const,
    }),
    embeddingTexts: counter(registry, {
      name: 'switchboard_memory_embedding_texts_total',
      help: 'Texts that needed an embedding, by where it came from (cache, api)',
      labelNames: ['source'] as const,
    }),
    retrievals: counter(registry, {
      name: 'switchboard_memory_retrievals_total',
      help: 'Memory searches by mode (hybrid, keyword)',
      labelNames: ['mode'] as const,
    }),
    retrievalDuration: histogram(registry, {
      name: 'switchboard_memory_retrieval_duration_seconds',
      help: 'Wall time of one memory search, embedding included',
      buckets: LATENCY_BUCKETS_SECONDS,
    }),
    writes: counter(registry, {
      name: 'switchboard_memory_writes_total',
      help: 'Memories written by source (remember, extract, flush, api) and outcome (created, merged, evicted: an older one dropped for it at the per-scope bound)',
      labelNames: ['source', 'outcome'] as const,
    }),
    compactions: counter(registry, {
      name: 'switchboard_memory_compactions_total',
      help: 'Session compactions by outcome (compacted, skipped, error)',
      labelNames: ['outcome'] as const,
    }),
    extractions: counter(registry, {
      name: 'switchboard_memory_extractions_total',
      help: 'Fact extractions by kind (extract, flush) and outcome (done, skipped, error)',
      labelNames: ['kind', 'outcome'] as const,
    }),
    contextTokens: histogram(registry, {
      name: 'switchboard_context_tokens',
      help: 'Prompt tokens of one model call as built by the context builder',
      buckets: [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000],
    }),
  };
}
export type MemoryMetrics = ReturnType<typeof memoryMetrics>;
