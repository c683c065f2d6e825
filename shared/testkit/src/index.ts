export { startRedisServer, freePort } from './redis-server.ts';
export type { PrivateRedis } from './redis-server.ts';
export { waitFor, uniquePrefix } from './wait.ts';
