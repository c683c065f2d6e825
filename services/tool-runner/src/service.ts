import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { TOOL_QUEUE, ToolJob, type ToolResult } from '@switchboard/contracts';
import { createRedis } from '@switchboard/lanes';
import { counter, histogram, LATENCY_BUCKETS_SECONDS, type Logger } from '@switchboard/observability';
import { toDefinition, ToolCatalog, type ToolPlugin } from '@switchboard/tools';
import { BUILTIN_TOOLS } from './builtin-tools.ts';
import type { ToolRunnerConfig } from './config.ts';
import { runTool } from './run-tool.ts';

export { loadToolRunnerConfig, ToolRunnerEnv } from './config.ts';
export type { ToolRunnerConfig } from './config.ts';
export { BUILTIN_TOOLS } from './builtin-tools.ts';

export interface ToolRunnerDeps {
  config: ToolRunnerConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
  /** Tool plugins available to enable; defaults to the built-ins. */
  plugins?: readonly ToolPlugin[];
}

export interface ToolRunnerService {
  readiness: Record<string, () => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Consumes tool jobs. A job runs at most once: the queue never retries it, and a job whose runner
 * died mid-run is failed rather than re-run (`maxStalledCount: 0`), because a tool may have side
 * effects; the turn then tells the model the run was lost.
 */
export async function createToolRunner(deps: ToolRunnerDeps): Promise<ToolRunnerService> {
  const { config, logger, registry } = deps;
  const prefix = config.SWITCHBOARD_PREFIX;
  const all = deps.plugins ?? BUILTIN_TOOLS;
  const enabled = config.TOOLS_ENABLED ? all.filter((p) => config.TOOLS_ENABLED!.includes(p.name)) : all;
  const byName = new Map(enabled.map((p) => [p.name, p]));
  const runs = counter(registry, { name: 'switchboard_tool_runs_total', help: 'Tool runs by tool and outcome (ok, error, timeout, rejected)', labelNames: ['tool', 'outcome'] as const });
  const duration = histogram(registry, { name: 'switchboard_tool_run_duration_seconds', help: 'Wall time of one tool run', labelNames: ['tool'] as const, buckets: LATENCY_BUCKETS_SECONDS });

  const redis: Redis = createRedis(deps.redisUrl, 'tool-runner');
  const workerConnection: Redis = createRedis(deps.redisUrl, 'tool-runner-worker');
  const catalog = new ToolCatalog(redis, prefix);
  const publish = () => catalog.publish(enabled.map(toDefinition));
  await publish();
  const republish = setInterval(() => void publish().catch((err: unknown) => logger.warn({ err }, 'publishing the tool catalog failed')), 30_000);
  republish.unref();
  const shutdown = new AbortController();

  const worker = new Worker(
    TOOL_QUEUE.name,
    async (job: Job): Promise<ToolResult> => {
      const parsed = ToolJob.safeParse(job.data);
      if (!parsed.success) {
        logger.error({ queue: TOOL_QUEUE.name, jobId: job.id, issues: parsed.error.issues }, 'invalid tool job payload');
        throw new UnrecoverableError('invalid tool job payload');
      }
      const data = parsed.data;
      const plugin = byName.get(data.tool);
      const log = logger.child({ queue: TOOL_QUEUE.name, jobId: job.id, sessionId: data.sessionKey, tool: data.tool });
      if (!plugin) {
        runs.inc({ tool: 'unknown', outcome: 'rejected' });
        log.warn('tool job for a tool that is not enabled here');
        return { ok: false, output: `tool "${data.tool}" is not enabled`, truncated: false, errorCode: 'not_found', durationMs: 0 };
      }
      const result = await runTool(plugin, data, { maxOutputBytes: config.TOOL_OUTPUT_MAX_BYTES, signal: shutdown.signal });
      const outcome = result.ok ? 'ok' : result.errorCode === 'timeout' ? 'timeout' : 'error';
      runs.inc({ tool: plugin.name, outcome });
      duration.observe({ tool: plugin.name }, result.durationMs / 1000);
      log.info({ outcome, durationMs: Math.round(result.durationMs), truncated: result.truncated }, 'tool run finished');
      return result;
    },
    { connection: workerConnection, prefix, concurrency: config.TOOL_CONCURRENCY, maxStalledCount: 0 },
  );
  worker.on('error', (err) => logger.error({ err, queue: TOOL_QUEUE.name }, 'tool worker error'));
  logger.info({ tools: [...byName.keys()] }, 'tool runner started');

  return {
    readiness: {
      redis: async () => {
        await redis.ping();
      },
    },
    async close() {
      clearInterval(republish);
      await worker.close();
      shutdown.abort(new Error('shutting down'));
      redis.disconnect();
      workerConnection.disconnect();
    },
  };
}
