import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, expect, inject, it } from 'vitest';
import { TOOL_QUEUE, type ToolResult } from '@switchboard/contracts';
import { createRedis } from '@switchboard/lanes';
import { createRegistry } from '@switchboard/observability';
import { ToolCatalog } from '@switchboard/tools';
import { loadToolRunnerConfig } from './config.ts';
import { createToolRunner } from './service.ts';
import { recordingLogger, serverEverythingEntry, liveGroupMembers } from './mcp/test-support.ts';

const dir = await mkdtemp(join(tmpdir(), 'sb-wiring-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

it('publishes MCP tools with their server schema and runs an MCP tool job end to end', async () => {
  const prefix = `mcpwire${Date.now()}`;
  const config = loadToolRunnerConfig({
    SWITCHBOARD_PREFIX: prefix,
    TOOL_WORKSPACES_DIR: join(dir, 'ws'),
    BWRAP_PATH: '/nonexistent/bwrap',
    PATH: process.env.PATH,
    MCP_SERVERS: JSON.stringify({ everything: { command: process.execPath, args: [serverEverythingEntry(), 'stdio'] } }),
  });
  const { logger, lines } = recordingLogger();
  const redisUrl = inject('redisUrl');
  const runner = await createToolRunner({ config, logger, registry: createRegistry(), redisUrl });
  const redis = createRedis(redisUrl);
  const events = new QueueEvents(TOOL_QUEUE.name, { connection: createRedis(redisUrl), prefix });
  const queue = new Queue(TOOL_QUEUE.name, { connection: redis, prefix });
  try {
    const catalog = await new ToolCatalog(redis, prefix, 0).list();
    const sum = catalog.find((t) => t.name === 'mcp__everything__get-sum');
    expect(sum?.parameters).toMatchObject({ required: ['a', 'b'] });
    expect(catalog.map((t) => t.name)).toContain('echo');
    await events.waitUntilReady();
    const job = await queue.add('run', { v: 1, turnId: 't1', toolCallId: 'c1', sessionKey: 'web:local:s', platform: 'web', userId: 'u', tool: 'mcp__everything__get-sum', arguments: { a: 2, b: 3 } }, { jobId: 'j1' });
    const result = (await job.waitUntilFinished(events, 20_000)) as ToolResult;
    expect(result.ok).toBe(true);
    expect(result.output).toContain('<untrusted source="mcp:everything/get-sum">\nThe sum of 2 and 3 is 5.\n</untrusted>');
    expect(result.output.match(/<untrusted/g)).toHaveLength(1);
  } finally {
    const pid = lines.find((l) => l.pid !== undefined)?.pid as number;
    await runner.close();
    await queue.close();
    await events.close();
    redis.disconnect();
    expect(liveGroupMembers(pid)).toEqual([]);
  }
});
