import { randomBytes } from 'node:crypto';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { SwitchboardError, TOOL_QUEUE, ToolJob, type ToolResult } from '@switchboard/contracts';
import { createRedis, LaneIngress, LaneStore, TurnQueue } from '@switchboard/lanes';
import { counter, histogram, LATENCY_BUCKETS_SECONDS, type Logger } from '@switchboard/observability';
import { memoryFromConfig, RedisScopeMarks } from '@switchboard/memory';
import { policyFromConfig } from '@switchboard/policy';
import type { Db } from '@switchboard/store';
import { Scheduler } from '@switchboard/scheduler';
import { ApprovalBoard, argumentsDigest, ToolCatalog, type ToolPlugin, wrapUntrusted } from '@switchboard/tools';
import { BUILTIN_TOOLS, builtinsOffByDefault, loadBuiltinTools } from './builtin-tools.ts';
import type { ToolRunnerConfig } from './config.ts';
import { definitionOf, mcpConnectedGauge } from './mcp/definitions.ts';
import { MAX_TOOL_NAME_LENGTH, mcpToolPrefix } from './mcp/names.ts';
import type { McpToolSource } from './mcp/index.ts';
import { runTool } from './run-tool.ts';
import { createWorkspaces, workspaceOwnerFor, type Workspaces } from './sandbox/workspaces.ts';
import type { WebSearchProvider } from './tools/web-search.ts';

export { loadToolRunnerConfig, ToolRunnerEnv } from './config.ts';
export type { ToolRunnerConfig } from './config.ts';
export { BUILTIN_TOOLS, loadBuiltinTools } from './builtin-tools.ts';
export type { BuiltinTool, BuiltinToolEnv } from './builtin-tools.ts';
export type { WebSearchProvider, WebSearchResult } from './tools/web-search.ts';
export { ToolError } from './tools/tool-error.ts';
export type { ToolErrorCode } from './tools/tool-error.ts';

export interface ToolRunnerDeps {
  config: ToolRunnerConfig;
  logger: Logger;
  registry: Registry;
  redisUrl: string;
  /** Tool plugins available to enable; defaults to the built-ins that can run on this host. */
  plugins?: readonly ToolPlugin[];
  /** Plugins added to the built-ins (an operator's own tools, or test tools). */
  extraPlugins?: readonly ToolPlugin[];
  /** Backend of `web_search`; wins over the one WEB_SEARCH_PROVIDER configures (without either the tool is not offered). */
  webSearchProvider?: WebSearchProvider;
  /** Per-session workspaces; defaults to directories under `config.workspacesDir`. */
  workspaces?: Workspaces;
  /** Postgres for the memory tools (`remember`, `recall`, `forget`); without it they are unavailable. */
  db?: Db;
  /** Source of MCP tools; defaults to one started from `config.mcpServers` (none configured: no tools). */
  mcp?: McpToolSource;
  /** How often the worker looks for runs whose runner died (BullMQ's `stalledInterval`; tests shorten it). */
  stalledIntervalMs?: number;
}

export interface ToolRunnerService {
  readiness: Record<string, () => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Refuses TOOLS_ENABLED and TOOLS_ASK entries that name no tool: neither a tool of this runner nor
 * `mcp__<server>__…` of a configured MCP server. A typo there is silent otherwise, and in TOOLS_ASK
 * it lets the misspelt tool run without the approval it was meant to need.
 */
export function checkToolNames(config: Pick<ToolRunnerConfig, 'TOOLS_ENABLED' | 'TOOLS_ASK' | 'mcpServers'>, known: readonly string[]): void {
  const prefixes = config.mcpServers.map((s) => mcpToolPrefix(s.name));
  // Only a name the runner can give an MCP tool (see assignMcpToolNames): a server's own spelling
  // (`mcp__docs__read.file`, offered as `mcp__docs__read_file`) would match nothing, and in
  // TOOLS_ASK leave the tool running without approval.
  const mcpName = (n: string) => prefixes.some((p) => n.startsWith(p) && n.length > p.length) && n.length <= MAX_TOOL_NAME_LENGTH && /^[A-Za-z0-9_-]+$/.test(n);
  for (const [variable, names] of [['TOOLS_ENABLED', config.TOOLS_ENABLED ?? []], ['TOOLS_ASK', config.TOOLS_ASK]] as const) {
    const unknown = names.filter((n) => !known.includes(n) && !mcpName(n));
    if (unknown.length > 0) {
      throw new SwitchboardError(
        'config_error',
        `${variable} names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} no tool here ` +
          `(tools: ${[...new Set(known)].sort().join(', ')}${prefixes.length > 0 ? `; MCP: ${prefixes.map((p) => `${p}<tool>`).join(', ')}` : ''})`,
        { retryable: false },
      );
    }
  }
}

/**
 * Consumes tool jobs. A job runs at most once: the queue never retries it, and a job whose runner
 * died mid-run is failed rather than re-run (`maxStalledCount: 0`), because a tool may have side
 * effects; the turn then tells the model the run was lost.
 */
export async function createToolRunner(deps: ToolRunnerDeps): Promise<ToolRunnerService> {
  const { config, logger, registry } = deps;
  const prefix = config.SWITCHBOARD_PREFIX;
  // Before anything is started: a typo in TOOLS_ENABLED or TOOLS_ASK stops the runner at once.
  checkToolNames(config, [...(deps.plugins ?? BUILTIN_TOOLS).map((t) => t.name), ...(deps.extraPlugins ?? []).map((p) => p.name)]);
  const processUid = process.getuid?.() ?? -1;
  const workspaces =
    deps.workspaces ??
    createWorkspaces({ rootDir: config.workspacesDir, owner: workspaceOwnerFor(processUid, { uid: config.SANDBOX_UID, gid: config.SANDBOX_GID }) });
  const redis: Redis = createRedis(deps.redisUrl, 'tool-runner');
  const scheduler = new Scheduler(redis, prefix, { perConversation: config.SCHEDULES_MAX_PER_CONVERSATION, perAccount: config.SCHEDULES_MAX_PER_ACCOUNT });
  const fixed =
    deps.plugins ??
    [
      ...(await loadBuiltinTools({
        config, logger, workspaces, processUid, scheduler,
        ...(deps.webSearchProvider ? { webSearchProvider: deps.webSearchProvider } : {}),
        ...(deps.db ? { memory: memoryFromConfig(deps.db, config, { logger, registry, marks: new RedisScopeMarks(redis, prefix) }) } : {}),
      })),
      ...(deps.extraPlugins ?? []),
    ];
  // The MCP SDK is loaded only when a server is configured (it is most of this service's start-up).
  mcpConnectedGauge(registry);
  const mcp: Pick<McpToolSource, 'plugins' | 'onChange' | 'close'> =
    deps.mcp ??
    (config.mcpServers.length > 0
      ? await (await import('./mcp/index.ts')).McpToolSource.start(config, logger, { registry })
      : { plugins: () => [], onChange: () => () => undefined, close: async () => undefined });
  let enabled: ToolPlugin[] = [];
  let byName = new Map<string, ToolPlugin>();
  /** Recomputes the enabled tools (again whenever an MCP server's tools change); returns the withheld ones. */
  const select = (): string[] => {
    const all = [...fixed, ...mcp.plugins()];
    // Until approvals exist, high-risk tools (shell, http_request) run only when TOOLS_ENABLED names them.
    enabled = config.TOOLS_ENABLED ? all.filter((p) => config.TOOLS_ENABLED!.includes(p.name)) : all.filter((p) => p.risk !== 'high');
    byName = new Map(enabled.map((p) => [p.name, p]));
    return all.filter((p) => !enabled.includes(p)).map((p) => p.name);
  };
  const withheld = [...(deps.plugins ? [] : builtinsOffByDefault(config)), ...select()];
  if (!config.TOOLS_ENABLED && withheld.length > 0) logger.info({ tools: withheld }, 'high-risk tools are off by default; name them in TOOLS_ENABLED to enable them');
  const runs = counter(registry, { name: 'switchboard_tool_runs_total', help: 'Tool runs by tool and outcome (ok, error, timeout, rejected, lost: a background run that ended without a result)', labelNames: ['tool', 'outcome'] as const });
  const duration = histogram(registry, { name: 'switchboard_tool_run_duration_seconds', help: 'Wall time of one tool run', labelNames: ['tool'] as const, buckets: LATENCY_BUCKETS_SECONDS });

  const workerConnection: Redis = createRedis(deps.redisUrl, 'tool-runner-worker');
  const catalog = new ToolCatalog(redis, prefix);
  // definitionOf, not toDefinition: an MCP tool's schema is its server's JSON Schema.
  // This runner's snapshot: a tool it stops offering leaves the catalog at the next publish.
  const publisher = `runner-${randomBytes(8).toString('hex')}`;
  const publish = () => catalog.publish(enabled.map(definitionOf), { publisher, ttlSeconds: 90 });
  await publish();
  mcp.onChange(() => {
    select();
    logger.info({ tools: [...byName.keys()] }, 'MCP tools changed; enabled tools updated');
    void publish().catch((err: unknown) => logger.warn({ err }, 'publishing the tool catalog failed'));
  });
  const republish = setInterval(() => void publish().catch((err: unknown) => logger.warn({ err }, 'publishing the tool catalog failed')), 30_000);
  republish.unref();
  const shutdown = new AbortController();
  const turns = new TurnQueue(redis, prefix);
  const ingress = new LaneIngress(new LaneStore(redis, { prefix }), turns, registry);

  /**
   * Posts a background run's result into its session as a system event. Once per job: the result
   * and a failure notice (below) share the job's dedupe key, so whichever is posted first is the one.
   */
  async function postBackgroundResult(data: ToolJob, jobId: string, result: Pick<ToolResult, 'ok' | 'output'>): Promise<void> {
    await ingress.submit(
      {
        v: 1,
        platform: data.platform,
        sessionKey: data.sessionKey,
        account: data.account ?? data.platform,
        chatId: data.chatId ?? data.sessionKey,
        ...(data.threadId ? { threadId: data.threadId } : {}),
        userId: data.userId,
        kind: 'system_event',
        text: `Background tool ${data.tool} (call ${data.toolCallId}) ${result.ok ? 'finished' : 'failed'}:\n${result.output}`,
        receivedAtMs: Date.now(),
      },
      `bg-${jobId}`,
    );
  }
  const policy = await policyFromConfig(config);
  const approvals = new ApprovalBoard(redis, prefix);

  /** The runner checks policy again: a job that policy denies, or that needed an approval it lacks, never runs. */
  async function refusal(data: ToolJob): Promise<string | undefined> {
    const verdict = policy.decide({ tool: data.tool, agent: data.agent, channel: data.platform, user: data.userId }, data.arguments);
    if (verdict.decision === 'deny') return `denied by policy: ${verdict.reason}`;
    if (verdict.decision === 'ask') {
      const approval = data.approvalId ? await approvals.get(data.approvalId) : undefined;
      const valid =
        approval?.status === 'approved' &&
        approval.turnId === data.turnId &&
        approval.tool === data.tool &&
        approval.toolCallId.endsWith(`-${data.toolCallId}`) &&
        approval.argsDigest === argumentsDigest(data.arguments);
      if (!valid) return `${data.tool} needs a human's approval for this call and has none`;
    }
    return undefined;
  }

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
      const refused = await refusal(data);
      if (refused) {
        runs.inc({ tool: plugin.name, outcome: 'rejected' });
        log.warn({ reason: refused }, 'tool job refused by policy');
        return { ok: false, output: refused, truncated: false, errorCode: 'unauthorized', durationMs: 0 };
      }
      const settings = policy.settings({ tool: data.tool, agent: data.agent, channel: data.platform, user: data.userId });
      const result = await runTool(plugin, data, { maxOutputBytes: config.TOOL_OUTPUT_MAX_BYTES, signal: shutdown.signal, workspaces, settings });
      if (result.ok && !plugin.outputTrusted && !plugin.wrapsOwnOutput) {
        // Tool output (files, command output, remote data) is data for the model, never instructions.
        result.output = wrapUntrusted(`tool:${plugin.name}`, {}, result.output, config.TOOL_OUTPUT_MAX_BYTES + 512);
      }
      if (data.background) await postBackgroundResult(data, String(job.id), result);
      const outcome = result.ok ? 'ok' : result.errorCode === 'timeout' ? 'timeout' : 'error';
      runs.inc({ tool: plugin.name, outcome });
      duration.observe({ tool: plugin.name }, result.durationMs / 1000);
      log.info({ outcome, durationMs: Math.round(result.durationMs), truncated: result.truncated }, 'tool run finished');
      return result;
    },
    {
      connection: workerConnection, prefix, concurrency: config.TOOL_CONCURRENCY, maxStalledCount: 0,
      ...(deps.stalledIntervalMs ? { stalledInterval: deps.stalledIntervalMs } : {}),
    },
  );
  worker.on('error', (err) => logger.error({ err, queue: TOOL_QUEUE.name }, 'tool worker error'));
  // A background run that failed without posting its result (its runner died mid-run and the job
  // was failed as stalled, or the post itself failed): nobody waits on the job, so the session is
  // told here, or the model would expect a result forever. Any runner may fail a stalled job.
  worker.on('failed', (job, err) => {
    const parsed = job ? ToolJob.safeParse(job.data) : undefined;
    if (!job || !parsed?.success || !parsed.data.background) return;
    runs.inc({ tool: parsed.data.tool, outcome: 'lost' });
    const output = `it stopped without a result (${err.message}). It is not run again, since it may have had effects.`;
    postBackgroundResult(parsed.data, String(job.id), { ok: false, output }).catch((postErr: unknown) =>
      logger.error({ err: postErr, queue: TOOL_QUEUE.name, jobId: job.id, sessionId: parsed.data.sessionKey }, 'could not tell the session that a background tool run was lost'),
    );
  });
  logger.info({ tools: [...byName.keys()], workspacesDir: workspaces.rootDir }, 'tool runner started');

  return {
    readiness: {
      redis: async () => {
        await redis.ping();
      },
    },
    async close() {
      clearInterval(republish);
      await worker.close();
      await catalog.withdraw(publisher).catch((err: unknown) => logger.warn({ err }, 'withdrawing the tool catalog snapshot failed'));
      shutdown.abort(new Error('shutting down'));
      // A source passed in belongs to the caller.
      if (!deps.mcp) await mcp.close();
      await turns.close();
      await scheduler.close();
      redis.disconnect();
      workerConnection.disconnect();
    },
  };
}
