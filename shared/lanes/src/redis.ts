import { Redis } from 'ioredis';

/**
 * An ioredis connection suitable for BullMQ workers and blocking reads (`maxRetriesPerRequest: null`:
 * commands wait for a reconnect instead of failing).
 */
export function createRedis(url: string, name?: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...(name ? { connectionName: name } : {}) });
}
