import type { Registry } from 'prom-client';
import type { InboundMessage } from '@switchboard/contracts';
import type { AppendResult, LaneStore } from './lane-store.ts';
import { laneMetrics, type LaneMetrics } from './metrics.ts';
import type { TurnQueue } from './turn-queue.ts';

/**
 * The entry point channel services use: put a normalized message on its session's lane, once.
 */
export class LaneIngress {
  private readonly metrics: LaneMetrics;
  private readonly store: LaneStore;
  private readonly turns: TurnQueue;
  constructor(store: LaneStore, turns: TurnQueue, registry: Registry) {
    this.store = store;
    this.turns = turns;
    this.metrics = laneMetrics(registry);
  }

  /**
   * Appends the message to its session's inbox (unless `dedupeKey` was seen) and makes sure a turn
   * will handle it. A duplicate still requests a turn, so a redelivery after a crash between the
   * two steps repairs the lane.
   */
  async submit(message: Omit<InboundMessage, 'id'> & { id?: string }, dedupeKey?: string): Promise<AppendResult> {
    const result = await this.store.append(message, dedupeKey);
    await this.turns.request(message.sessionKey);
    this.metrics.inbound.inc({ platform: message.platform, outcome: result.duplicate ? 'duplicate' : 'accepted' });
    return result;
  }
}
