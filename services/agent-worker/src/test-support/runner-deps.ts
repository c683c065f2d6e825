import type { LaneStore, ReplyPublisher } from '@switchboard/lanes';
import type { LlmClient } from '@switchboard/llm';
import type { PolicyEngine } from '@switchboard/policy';
import type { Db } from '@switchboard/store';
import { ToolCallValidator, type ToolCatalog } from '@switchboard/tools';
import type { ApprovalStore } from '../approvals.ts';
import type { ToolDispatcher } from '../tool-dispatch.ts';
import { TranscriptStore } from '../transcript.ts';
import type { TurnRunnerDeps } from '../turn-runner.ts';

/** A turn runner's dependencies over `on` for tests: no tools, every tool offered, replies going nowhere. */
export function runnerDeps(on: Db, llm: LlmClient, contextBudgetTokens: number, maxToolSteps: number): TurnRunnerDeps {
  return {
    transcripts: new TranscriptStore(on),
    lanes: {} as LaneStore,
    replies: { deliver: async () => undefined } as unknown as ReplyPublisher,
    llm,
    catalog: { list: async () => [] } as unknown as ToolCatalog,
    validator: new ToolCallValidator(),
    tools: {} as ToolDispatcher,
    policy: { offers: () => true } as unknown as PolicyEngine,
    approvals: {} as ApprovalStore,
    db: on,
    agentName: 'default',
    systemPrompt: 'sys',
    contextBudgetTokens,
    maxToolSteps,
  };
}
