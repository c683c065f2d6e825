import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createLaneWorker, createRedis, LaneIngress, LaneStore, ReplyPublisher, TurnQueue, type LaneWorker } from '@switchboard/lanes';
import { AttachmentStore } from '@switchboard/channels';
import { createLlmClient, type LlmClient } from '@switchboard/llm';
import type { Logger } from '@switchboard/observability';
import type { Db } from '@switchboard/store';
import { policyFromConfig } from '@switchboard/policy';
import { RedisScopeMarks } from '@switchboard/memory';
import { ApprovalBoard, ToolCallValidator, ToolCatalog } from '@switchboard/tools';
import { ApprovalStore } from './approvals.ts';
import { heartbeatMetric, heartbeatTurnMetric, parseHeartbeat, removeHeartbeat, SilentHeartbeats, startHeartbeat } from './heartbeat.ts';
import { contextBudgetFor, type AgentWorkerConfig } from './config.ts';
import { turnMemoryFromConfig } from './turn-memory.ts';
import { ToolDispatcher } from './tool-dispatch.ts';
import { TranscriptStore } from './transcript.ts';
import { createTurnRunner, DEFAULT_SYSTEM_PROMPT } from './turn-runner.ts';

export { loadAgentWorkerConfig, AgentWorkerEnv } from './config.ts';
export { heartbeatQueueName } from './heartbeat.ts';
export type { AgentWorkerConfig } from './config.ts';

export interface AgentWorkerDeps {
  config: AgentWorkerConfig;
  logger: Logger;
  registry: Registry;
  db: Db;
  redisUrl: string;
}

export interface AgentWorkerService {
  llm: LlmClient | undefined;
  readiness: Record<string, () => Promise<void>>;
  /** Stops taking turns, waits for the ones in flight, then closes connections. */
  close(): Promise<void>;
}

/** Builds the model client from config, or undefined (with a log line saying so) when none is configured. */
export function llmFromConfig(config: AgentWorkerConfig, registry: Registry, logger: Logger): LlmClient | undefined {
  if (!config.LLM_MODEL || (!config.OPENAI_BASE_URL && !config.OPENAI_API_KEY)) {
    logger.warn('no model configured (set LLM_MODEL and OPENAI_BASE_URL or OPENAI_API_KEY); turns will answer with an error');
    return undefined;
  }
  return createLlmClient({
    ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
    ...(config.OPENAI_API_KEY ? { apiKey: config.OPENAI_API_KEY } : {}),
    model: config.LLM_MODEL,
    fallbackModels: config.LLM_FALLBACK_MODELS,
    maxRetries: config.LLM_MAX_RETRIES,
    timeoutMs: config.LLM_TIMEOUT_MS,
    registry,
    logger,
  });
}

/** Wires the agent worker: lanes in, model and tools in the middle, transcript and replies out. */
export async function createAgentWorker(deps: AgentWorkerDeps): Promise<AgentWorkerService> {
  const { config, logger, registry } = deps;
  const prefix = config.SWITCHBOARD_PREFIX;
  const connections: Redis[] = [];
  const connect = (name: string, autoPipelining = false) => {
    const c = createRedis(deps.redisUrl, `agent-worker-${name}`, { autoPipelining });
    connections.push(c);
    return c;
  };
  const redis = connect('main', true);
  const lanes = new LaneStore(redis, { prefix });
  const turns = new TurnQueue(redis, prefix);
  const replies = new ReplyPublisher({ store: lanes, connection: redis, prefix, queuedPlatforms: config.QUEUED_PLATFORMS, registry, approvalTimeoutMs: config.APPROVAL_TIMEOUT_MS });
  const tools = new ToolDispatcher(redis, connect('tool-events'), prefix);
  const llm = llmFromConfig(config, registry, logger);
  const heartbeatConfig = parseHeartbeat(config.HEARTBEAT);
  heartbeatMetric(registry);
  const heartbeatTurns = heartbeatTurnMetric(registry);
  // The tokenizer (~0.4 s, ~40 MiB) loads on the first turn, not here: an idle worker stays small
  // and starts fast.

  const runTurn = createTurnRunner({
    transcripts: new TranscriptStore(deps.db),
    lanes,
    replies,
    llm,
    catalog: new ToolCatalog(redis, prefix),
    validator: new ToolCallValidator(),
    tools,
    policy: await policyFromConfig(config),
    approvals: new ApprovalStore(deps.db, new ApprovalBoard(redis, prefix), config.APPROVAL_TIMEOUT_MS),
    db: deps.db,
    agentName: config.AGENT_NAME,
    ...(heartbeatConfig
      ? {
          heartbeat: {
            maxTokens: heartbeatConfig.maxTokens,
            contextTokens: heartbeatConfig.contextTokens,
            silent: new SilentHeartbeats(redis, prefix, config.AGENT_NAME),
            onOutcome: (outcome) => heartbeatTurns.inc({ outcome }),
          },
        }
      : {}),
    systemPrompt: config.SYSTEM_PROMPT ?? DEFAULT_SYSTEM_PROMPT,
    contextBudgetTokens: contextBudgetFor(config, llm ? [llm.model, ...config.LLM_FALLBACK_MODELS] : []),
    maxToolSteps: config.MAX_TOOL_STEPS,
    memory: turnMemoryFromConfig({ config, db: deps.db, llm, registry, logger, marks: new RedisScopeMarks(redis, prefix) }),
    attachments: new AttachmentStore(redis, prefix),
  });

  const worker: LaneWorker = createLaneWorker({
    connection: connect('turns'),
    prefix,
    store: lanes,
    turns,
    logger,
    registry,
    concurrency: config.TURN_CONCURRENCY,
    leaseMs: config.TURN_LEASE_MS,
    maxBatch: config.LANE_MODE === 'followup' ? 1 : config.LANE_MAX_BATCH,
    ...(config.LANE_MODE === 'interrupt' ? { interrupt: { subscriber: connect('arrivals') } } : {}),
    handle: runTurn,
    onGiveUp: async (ctx, err) => {
      const code = (err as { code?: string }).code ?? 'handler_error';
      await ctx.store.appendEvent(
        ctx.sessionKey,
        {
          type: 'turn_error',
          turnId: ctx.turnId,
          code,
          message: err instanceof Error ? err.message : 'the turn failed',
          inReplyTo: ctx.messages.map((m) => m.id),
        },
        `error-${ctx.turnId}`,
      );
    },
  });
  const heartbeat = heartbeatConfig
    ? await startHeartbeat({
        config: heartbeatConfig,
        agentName: config.AGENT_NAME,
        connection: redis,
        blocking: connect('heartbeats'),
        prefix,
        ingress: new LaneIngress(lanes, turns, registry),
        logger,
        registry,
      })
    : undefined;
  if (!heartbeatConfig) await removeHeartbeat({ agentName: config.AGENT_NAME, connection: redis, prefix });
  logger.info({ concurrency: config.TURN_CONCURRENCY, mode: config.LANE_MODE, model: llm?.model ?? null }, 'agent worker started');

  return {
    llm,
    readiness: {
      redis: async () => {
        await redis.ping();
      },
      database: () => deps.db.ping(),
    },
    async close() {
      await heartbeat?.close();
      await worker.close();
      await tools.close();
      await replies.close();
      await turns.close();
      for (const c of connections) c.disconnect();
    },
  };
}
