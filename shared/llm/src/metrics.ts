import { LATENCY_BUCKETS_SECONDS } from '@switchboard/observability';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * How one HTTP attempt ended (the closed label set of `llm_requests_total{outcome}`):
 * `success`; `remote_error` (the server answered with an error status or an error event);
 * `rate_limited` (429); `timeout`; `unreachable` (connect failed or connection lost);
 * `aborted` (the caller's signal); `handler_error` (our `onDelta` callback threw).
 */
export type LlmOutcome =
  | 'success'
  | 'remote_error'
  | 'rate_limited'
  | 'timeout'
  | 'unreachable'
  | 'aborted'
  | 'handler_error';

/** The LLM client's metrics, registered on the registry passed in. */
export interface LlmMetrics {
  /** One per HTTP attempt (retries and fallbacks each count). */
  requests: Counter<'model' | 'outcome'>;
  /** Seconds from sending an attempt to its last streamed byte or its failure. */
  duration: Histogram<'model'>;
  /** Tokens the server reported, `kind` = `prompt` | `completion`. */
  tokens: Counter<'model' | 'kind'>;
  /** Retries of the same model after a retryable failure. */
  retries: Counter<'model'>;
  /** Switches from one model to the next fallback model. */
  fallbacks: Counter<'from_model' | 'to_model'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Creates the metrics on `registry`, or returns the ones already registered there by another client. */
export function createLlmMetrics(registry: Registry): LlmMetrics {
  const durationName = 'llm_request_duration_seconds';
  const duration =
    (registry.getSingleMetric(durationName) as Histogram<'model'> | undefined) ??
    new Histogram({
      name: durationName,
      help: 'Duration of one LLM HTTP attempt, from request to last streamed byte, in seconds.',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [registry],
    });
  return {
    requests: counter(registry, 'llm_requests_total', 'LLM HTTP attempts by model and outcome.', ['model', 'outcome']),
    duration,
    tokens: counter(registry, 'llm_tokens_total', 'Tokens reported by the LLM server, by model and kind.', [
      'model',
      'kind',
    ]),
    retries: counter(registry, 'llm_retries_total', 'Retries of an LLM request on the same model.', ['model']),
    fallbacks: counter(registry, 'llm_fallbacks_total', 'Switches from one LLM model to a fallback model.', [
      'from_model',
      'to_model',
    ]),
  };
}
