import type { InboundMessage, SessionEvent } from '@switchboard/contracts';
import type { LaneStore, ReplyPublisher, TurnContext } from '@switchboard/lanes';
import type { LlmClient } from '@switchboard/llm';
import type { Logger } from '@switchboard/observability';
import type { PolicyEngine } from '@switchboard/policy';
import type { Db } from '@switchboard/store';
import { ToolCallValidator, type ToolCatalog } from '@switchboard/tools';
import type { ApprovalStore } from '../approvals.ts';
import type { ToolDispatcher } from '../tool-dispatch.ts';
import { TranscriptStore, type CommitInput } from '../transcript.ts';
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

/** A transcript store that keeps nothing but the commits it is handed (in `commits`), for tests. */
export function recordingTranscripts(commits: CommitInput[] = []): TranscriptStore {
  return {
    recent: async () => [],
    committedReply: async () => undefined,
    commit: async (input: CommitInput) => (commits.push(input), { outcome: 'committed' as const, baseSeq: 0, written: input.rows.length }),
  } as unknown as TranscriptStore;
}

/** A lane store for a turn in tests: its session events go to `events`, no steps were saved, the turn owns its lease. */
export function recordingLaneStore(events: SessionEvent[] = []): LaneStore {
  return { appendEvent: async (_session: string, e: SessionEvent) => (events.push(e), '0-0'), loadSteps: async () => [], saveStep: async () => undefined, owns: async () => true } as unknown as LaneStore;
}

/** A fresh (not resumed) turn `turnId` of `messages`, in their session. */
export function freshTurn(turnId: string, messages: InboundMessage[], store: LaneStore, log: Logger): TurnContext {
  return { sessionKey: messages[0]!.sessionKey, turnId, resumed: false, fence: 1, messages, attempt: 1, signal: new AbortController().signal, store, log };
}
