import { Redis } from 'ioredis';

/**
 * An ioredis connection suitable for BullMQ workers and blocking reads (`maxRetriesPerRequest: null`:
 * commands wait for a reconnect instead of failing).
 */
export function createRedis(url: string, name?: string, opts: { autoPipelining?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Commands issued in the same tick go out in one write: far fewer syscalls under load.
    // Only for connections that never block (not BullMQ workers or subscribers).
    enableAutoPipelining: opts.autoPipelining ?? false,
    ...(name ? { connectionName: name } : {}),
  });
}
