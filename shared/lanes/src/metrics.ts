import type { Registry } from 'prom-client';
import { counter, gauge, histogram, LATENCY_BUCKETS_SECONDS } from '@switchboard/observability';

export function laneMetrics(registry: Registry) {
  return {
    turns: counter(registry, {
      name: 'switchboard_turns_total',
      help: 'Turns finished, by outcome (ok, failed, fenced, empty, retry, parked)',
      labelNames: ['outcome'] as const,
    }),
    turnDuration: histogram(registry, {
      name: 'switchboard_turn_duration_seconds',
      help: 'Wall time of one turn, from claim to acknowledgement',
      buckets: LATENCY_BUCKETS_SECONDS,
    }),
    turnWait: histogram(registry, {
      name: 'switchboard_turn_wait_seconds',
      help: "From a turn's request (its job created) to a worker starting it: waiting for the session's running turn, a free slot and the fetch (first runs)",
      buckets: LATENCY_BUCKETS_SECONDS,
    }),
    batchSize: histogram(registry, {
      name: 'switchboard_turn_batch_size',
      help: 'Inbound messages handled by one turn',
      buckets: [1, 2, 3, 5, 10, 20, 50],
    }),
    resumed: counter(registry, {
      name: 'switchboard_turns_resumed_total',
      help: 'Turns that picked up a batch an earlier attempt had claimed (crash, stall or retry)',
    }),
    fenced: counter(registry, { name: 'switchboard_turn_fenced_total', help: 'Turns stopped at commit because another worker took the session over' }),
    depth: gauge(registry, {
      name: 'switchboard_lane_queue_depth',
      help: 'Jobs in a lane queue, by state',
      labelNames: ['queue', 'state'] as const,
    }),
    oldestAge: gauge(registry, {
      name: 'switchboard_lane_oldest_waiting_age_seconds',
      help: 'Age of the oldest inbound message not yet handled by a turn',
      labelNames: ['queue'] as const,
    }),
    inbound: counter(registry, {
      name: 'switchboard_inbound_messages_total',
      help: 'Inbound messages by platform and outcome (accepted, duplicate, rejected)',
      labelNames: ['platform', 'outcome'] as const,
    }),
    replies: counter(registry, {
      name: 'switchboard_replies_total',
      help: 'Replies delivered by platform and outcome (sent, duplicate, error)',
      labelNames: ['platform', 'outcome'] as const,
    }),
  };
}
export type LaneMetrics = ReturnType<typeof laneMetrics>;
