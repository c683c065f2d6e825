import type { Registry } from 'prom-client';
import { counter } from '@switchboard/observability';
import { laneMetrics } from '@switchboard/lanes';

/** Metrics every channel service shares; labels are closed sets (never a chat or user id). */
export function channelMetrics(registry: Registry) {
  return {
    /** `switchboard_inbound_messages_total{platform,outcome}`, shared with the lanes. */
    inbound: laneMetrics(registry).inbound,
    updates: counter(registry, {
      name: 'switchboard_channel_updates_total',
      help: 'Platform deliveries (webhooks, gateway events, interactions) by platform and outcome (accepted, duplicate, rejected, unauthorized, ignored, denied, pairing, interaction, failed)',
      labelNames: ['platform', 'outcome'] as const,
    }),
    sends: counter(registry, {
      name: 'switchboard_channel_sends_total',
      help: 'Platform send/edit calls by platform and outcome (sent, edited, uneditable: an edit of a draft that was deleted or can no longer be edited, rate_limited, failed)',
      labelNames: ['platform', 'outcome'] as const,
    }),
  };
}
export type ChannelMetrics = ReturnType<typeof channelMetrics>;
