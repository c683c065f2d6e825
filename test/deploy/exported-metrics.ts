import type { MetricType } from './promql.ts';

/** Metrics the Switchboard code exports (test/e2e checks this list against a real /metrics scrape). */
export const SWITCHBOARD_METRICS: Readonly<Record<string, MetricType>> = {
  switchboard_inbound_messages_total: 'counter',
  switchboard_replies_total: 'counter',
  switchboard_turns_total: 'counter',
  switchboard_turn_duration_seconds: 'histogram',
  switchboard_turn_wait_seconds: 'histogram',
  switchboard_turn_batch_size: 'histogram',
  switchboard_lane_queue_depth: 'gauge',
  switchboard_lane_oldest_waiting_age_seconds: 'gauge',
  switchboard_turn_fenced_total: 'counter',
  switchboard_turns_resumed_total: 'counter',
  switchboard_tool_runs_total: 'counter',
  switchboard_schedule_runs_total: 'counter',
  switchboard_heartbeats_total: 'counter',
  switchboard_heartbeat_turns_total: 'counter',
  switchboard_hook_runs_total: 'counter',
  switchboard_mcp_server_connected: 'gauge',
  switchboard_tool_run_duration_seconds: 'histogram',
  llm_requests_total: 'counter',
  llm_request_duration_seconds: 'histogram',
  llm_tokens_total: 'counter',
  llm_retries_total: 'counter',
  llm_fallbacks_total: 'counter',
  http_requests_total: 'counter',
  http_request_duration_seconds: 'histogram',
  sse_connections: 'gauge',
  switchboard_admin_actions_total: 'counter',
  switchboard_memory_embedding_requests_total: 'counter',
  switchboard_memory_embedding_texts_total: 'counter',
  switchboard_memory_retrievals_total: 'counter',
  switchboard_memory_retrieval_duration_seconds: 'histogram',
  switchboard_memory_writes_total: 'counter',
  switchboard_memory_compactions_total: 'counter',
  switchboard_memory_extractions_total: 'counter',
  switchboard_context_tokens: 'histogram',
  switchboard_history_cache_lookups_total: 'counter',
};

/**
 * The closed label-value sets of the metrics above, where alerts and dashboards match on them
 * (`outcome="timeout"`): a value outside its set selects nothing, silently.
 */
export const SWITCHBOARD_LABEL_VALUES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  switchboard_turns_total: { outcome: ['ok', 'failed', 'fenced', 'empty', 'retry', 'parked', 'interrupted'] },
  switchboard_replies_total: { outcome: ['sent', 'duplicate', 'error'] },
  switchboard_inbound_messages_total: { outcome: ['accepted', 'duplicate', 'rejected'] },
  switchboard_tool_runs_total: { outcome: ['ok', 'error', 'timeout', 'rejected', 'lost'] },
  switchboard_schedule_runs_total: { outcome: ['delivered', 'duplicate', 'skipped_stale', 'cancelled', 'failed', 'invalid'] },
  switchboard_heartbeats_total: { outcome: ['woke', 'inactive', 'skipped_stale'] },
  switchboard_heartbeat_turns_total: { outcome: ['silent', 'delivered', 'skipped_unchanged'] },
  switchboard_hook_runs_total: { outcome: ['delivered', 'duplicate', 'unauthorized'] },
  llm_requests_total: { outcome: ['success', 'remote_error', 'rate_limited', 'timeout', 'unreachable', 'aborted', 'handler_error'] },
  llm_tokens_total: { kind: ['prompt', 'completion'] },
  switchboard_memory_embedding_requests_total: { outcome: ['ok', 'error'] },
  switchboard_memory_embedding_texts_total: { source: ['cache', 'api'] },
  switchboard_memory_retrievals_total: { mode: ['hybrid', 'keyword'] },
  switchboard_memory_writes_total: { source: ['remember', 'extract', 'flush', 'api'], outcome: ['created', 'merged', 'evicted'] },
  switchboard_memory_compactions_total: { outcome: ['compacted', 'skipped', 'error'] },
  switchboard_memory_extractions_total: { kind: ['extract', 'flush'], outcome: ['done', 'skipped', 'error'] },
  switchboard_history_cache_lookups_total: { result: ['hit', 'miss'] },
};
