import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createRedis, EventHub, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import { channelMetrics, type ChannelMetrics } from './metrics.ts';
import { DraftStore } from './outbound.ts';

/** The Redis-side plumbing every channel service runs on. */
export interface ChannelRuntime {
  /** Commands (auto-pipelined). */
  redis: Redis;
  /** The outbound worker's own connection (BullMQ blocks on it). */
  workerConnection: Redis;
  store: LaneStore;
  turns: TurnQueue;
  ingress: LaneIngress;
  /** Session events (drafts, typing), on a dedicated subscriber connection. */
  hub: EventHub;
  metrics: ChannelMetrics;
  drafts: DraftStore;
  /** Redis answers (for /readyz). */
  ping(): Promise<void>;
  /** Closes the hub and the turn queue, then the connections; call after the outbound worker closed. */
  close(): Promise<void>;
}

/** Opens the connections, lanes, event hub, metrics and draft store of channel `platform`. */
export function channelRuntime(opts: { platform: string; redisUrl: string; prefix: string; registry: Registry; logger: Logger }): ChannelRuntime {
  const redis = createRedis(opts.redisUrl, opts.platform, { autoPipelining: true });
  const workerConnection = createRedis(opts.redisUrl, `${opts.platform}-outbound`);
  const subscriber = createRedis(opts.redisUrl, `${opts.platform}-events`);
  const store = new LaneStore(redis, { prefix: opts.prefix });
  const turns = new TurnQueue(redis, opts.prefix);
  const hub = new EventHub(subscriber, store, opts.logger);
  return {
    redis,
    workerConnection,
    store,
    turns,
    ingress: new LaneIngress(store, turns, opts.registry),
    hub,
    metrics: channelMetrics(opts.registry),
    drafts: new DraftStore(redis, opts.prefix, opts.platform),
    async ping() {
      await redis.ping();
    },
    async close() {
      await hub.close();
      await turns.close();
      subscriber.disconnect();
      workerConnection.disconnect();
      redis.disconnect();
    },
  };
}
