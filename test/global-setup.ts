import type { TestProject } from 'vitest/node';
import { startRedisServer, type PrivateRedis } from '@switchboard/testkit';

let redis: PrivateRedis | undefined;

/** One private redis-server for the whole test run; each test isolates itself with a unique key prefix. */
export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
