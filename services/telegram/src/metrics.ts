import type { Registry } from 'prom-client';
import { counter } from '@switchboard/observability';
import { laneMetrics } from '@switchboard/lanes';

/** Metrics of the Telegram service; labels are closed sets (never a chat or user id). */
export function telegramMetrics(registry: Registry) {
  return {
    /** Shared with every channel: `switchboard_inbound_messages_total{platform,outcome}`. */
    inbound: laneMetrics(registry).inbound,
    updates: counter(registry, {
      name: 'switchboard_telegram_updates_total',
      help: 'Telegram updates received, by outcome (accepted, duplicate, rejected, unauthorized, ignored, denied, pairing, callback)',
      labelNames: ['outcome'] as const,
    }),
    sent: counter(registry, {
      name: 'switchboard_telegram_sends_total',
      help: 'Telegram sendMessage calls by outcome (sent, rate_limited, failed)',
      labelNames: ['outcome'] as const,
    }),
  };
}
export type TelegramMetrics = ReturnType<typeof telegramMetrics>;
