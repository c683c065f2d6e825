import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { TOOL_QUEUE, type InboundMessage, type ToolJob } from '@switchboard/contracts';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { waitFor } from '@switchboard/testkit';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { loadToolRunnerConfig } from './config.ts';
import { createToolRunner } from './service.ts';

const dir = await mkdtemp(join(tmpdir(), 'sb-bg-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

let runs = 0;
const slowJob = defineTool({
  name: 'slow_bg',
  description: 'A long background computation',
  risk: 'low',
  background: true,
  outputTrusted: true,
  parameters: z.object({}),
  execute: async () => {
    runs += 1;
    return 'done';
  },
}) as unknown as ToolPlugin;

it('tells the session when a background run ends without a result because its runner died, and does not run it again', async () => {
  const prefix = `bgdead${Date.now()}`;
  const redisUrl = inject('redisUrl');
  const redis = createRedis(redisUrl);
  const queue = new Queue(TOOL_QUEUE.name, { connection: redis, prefix });
  const sessionKey = 'web:local:bgdead';
  const data: ToolJob = {
    v: 1, turnId: 't-bg', toolCallId: 'c9', sessionKey, platform: 'web', userId: 'local', tool: 'slow_bg', arguments: {},
    background: true, account: 'local', chatId: 'bgdead',
  };
  await queue.add('run', data, { jobId: 'bg-job-1' });
  // A runner takes the job and dies: its lock is never renewed and the job never finishes.
  const dead = new Worker(TOOL_QUEUE.name, null, { connection: createRedis(redisUrl), prefix, lockDuration: 500 });
  expect((await dead.getNextJob('dead-runner'))?.id).toBe('bg-job-1');
  await dead.close();

  const config = loadToolRunnerConfig({ SWITCHBOARD_PREFIX: prefix, TOOL_WORKSPACES_DIR: join(dir, 'ws'), BWRAP_PATH: '/nonexistent/bwrap', PATH: process.env.PATH });
  const runner = await createToolRunner({
    config, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry(), redisUrl, plugins: [slowJob], stalledIntervalMs: 300,
  });
  const store = new LaneStore(redis, { prefix });
  try {
    let told: InboundMessage[] = [];
    await waitFor(
      async () => {
        told = (await store.claim(sessionKey, 10))?.messages ?? [];
        return told.length > 0;
      },
      { timeoutMs: 15_000, message: 'the session is told about the lost run' },
    );
    expect(told).toHaveLength(1);
    expect(told[0]!.kind).toBe('system_event');
    expect(told[0]!.text).toMatch(/^Background tool slow_bg \(call c9\) failed:\nit stopped without a result \(job stalled more than allowable limit\)\. It is not run again/);
    expect(await queue.getJobState('bg-job-1')).toBe('failed');
    expect(runs).toBe(0);
  } finally {
    await runner.close();
    await queue.close();
    redis.disconnect();
  }
});
