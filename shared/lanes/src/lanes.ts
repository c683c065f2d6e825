import type { Registry } from 'prom-client';
import type { InboundMessage } from '@switchboard/contracts';
import { toInbound, type AppendResult, type LaneStore } from './lane-store.ts';
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

  /** Whether a message with `dedupeKey` was appended already (so a redelivery need not be prepared again). */
  async seen(dedupeKey: string): Promise<boolean> {
    return await this.store.seen(dedupeKey);
  }

  /** Whether the session has messages waiting for a turn or in one that has not finished (see LaneStore.busy). */
  async busy(sessionKey: string): Promise<boolean> {
    return await this.store.busy(sessionKey);
  }

  /**
   * Appends the message to its session's inbox (unless `dedupeKey` was seen) and makes sure a turn
   * will handle it. A duplicate still requests a turn, so a redelivery after a crash between the
   * two steps repairs the lane.
   */
  async submit(message: Omit<InboundMessage, 'id'> & { id?: string }, dedupeKey?: string): Promise<AppendResult> {
    const full = toInbound(message);
    let result: AppendResult;
    if (this.turns.connection === this.store.redis) {
      // One connection runs commands in the order they are sent, so the turn job cannot be taken
      // before the message is in the inbox: send both without waiting for the first reply. (Only
      // a script Redis has lost, re-sent after its NOSCRIPT reply, lands late; the turn then finds
      // nothing and the lane sweep requests the session's turn again.)
      const appended = this.store.appendValid(full, dedupeKey);
      const requested = this.turns.request(full.sessionKey);
      [result] = await Promise.all([appended, requested]);
    } else {
      result = await this.store.appendValid(full, dedupeKey);
      await this.turns.request(full.sessionKey);
    }
    this.metrics.inbound.inc({ platform: full.platform, outcome: result.duplicate ? 'duplicate' : 'accepted' });
    return result;
  }
}
