import { SwitchboardError, type InboundMessage, type ToolDefinition } from '@switchboard/contracts';
import { FencedError, type LaneStore, type ReplyPublisher, type TurnContext } from '@switchboard/lanes';
import type { ChatMessage, LlmClient, LlmToolCall } from '@switchboard/llm';
import { countTokens } from '@switchboard/llm';
import type { ToolCatalog, ToolCallValidator } from '@switchboard/tools';
import { buildContext } from './context.ts';
import { DeltaBuffer } from './delta-buffer.ts';
import type { ToolDispatcher } from './tool-dispatch.ts';
import type { NewRow, TranscriptStore } from './transcript.ts';

/** A checkpointed step of a running turn. */
type Step =
  | { kind: 'model'; content: string; toolCalls: LlmToolCall[]; model: string; promptTokens: number; completionTokens: number }
  | { kind: 'tool'; toolCallId: string; name: string; output: string; ok: boolean };

export interface TurnRunnerDeps {
  transcripts: TranscriptStore;
  lanes: LaneStore;
  replies: ReplyPublisher;
  llm: LlmClient | undefined;
  catalog: ToolCatalog;
  validator: ToolCallValidator;
  tools: ToolDispatcher;
  /** Tool names offered to the model; undefined offers every tool in the catalog. */
  toolsEnabled: string[] | undefined;
  systemPrompt: string;
  contextBudgetTokens: number;
  maxToolSteps: number;
  /** History rows loaded before fitting the budget. */
  historyLimit?: number;
}

export const DEFAULT_SYSTEM_PROMPT =
  'You are a helpful assistant reachable through chat. Answer concisely. Use the tools you are given when they help.';

function userText(m: InboundMessage): string {
  return m.kind === 'system_event' ? `[system event] ${m.text}` : m.text;
}

/**
 * The turn loop: claim the session's fence, build context, call the model with the enabled tools,
 * validate and dispatch tool calls, loop up to the step limit, stream deltas, then commit the
 * transcript and deliver the reply. Every model step and tool result is checkpointed, so a turn
 * resumed after a crash replays them instead of calling the model or a tool again.
 */
export function createTurnRunner(deps: TurnRunnerDeps) {
  return async function runTurn(ctx: TurnContext): Promise<void> {
    const first = ctx.messages[0]!;
    const inReplyTo = ctx.messages.map((m) => m.id);
    const { fence, committedReply } = await deps.transcripts.claim(first, ctx.turnId);
    const deliver = (text: string) =>
      deps.replies.deliver({
        v: 1,
        id: `reply-${ctx.turnId}`,
        turnId: ctx.turnId,
        sessionKey: ctx.sessionKey,
        platform: first.platform,
        account: first.account,
        chatId: first.chatId,
        threadId: first.threadId,
        text,
        inReplyTo,
      });
    if (committedReply !== undefined) {
      // Committed before a crash; only delivery and acknowledgement were missing. Both are idempotent.
      await deliver(committedReply);
      return;
    }
    if (!deps.llm) {
      throw new SwitchboardError('config_error', 'no model is configured: set LLM_MODEL and OPENAI_BASE_URL (or OPENAI_API_KEY)', { retryable: false });
    }
    const llm = deps.llm;
    await ctx.store.appendEvent(ctx.sessionKey, { type: 'turn_started', turnId: ctx.turnId, messageIds: inReplyTo }, `ts-${ctx.turnId}`);

    const history = await deps.transcripts.recent(ctx.sessionKey, deps.historyLimit ?? 200);
    const tools = offeredTools(await deps.catalog.list(), deps.toolsEnabled);
    const current: ChatMessage[] = ctx.messages.map((m) => ({ role: 'user', content: userText(m) }));
    const rows: NewRow[] = ctx.messages.map((m) => ({ role: 'user', content: userText(m), sourceId: m.id, userId: m.userId, tokens: countTokens(userText(m)) }));

    const steps: Step[] = ctx.resumed ? await ctx.store.loadSteps<Step>(ctx.sessionKey) : [];
    const record = async (step: Step) => {
      steps.push(step);
      apply(step);
      // A final answer is committed right after; a crash before that just asks the model again.
      if (step.kind === 'tool' || step.toolCalls.length > 0) await ctx.store.saveStep(ctx.sessionKey, step);
    };
    function apply(step: Step): void {
      if (step.kind === 'model') {
        const toolCalls = step.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.argumentsJson } }));
        current.push(toolCalls.length > 0 ? { role: 'assistant', content: step.content || null, tool_calls: toolCalls } : { role: 'assistant', content: step.content });
        rows.push({ role: 'assistant', content: step.content, toolCalls: toolCalls.length > 0 ? toolCalls : undefined, tokens: countTokens(step.content) });
      } else {
        current.push({ role: 'tool', content: step.output, tool_call_id: step.toolCallId });
        rows.push({ role: 'tool', content: step.output, toolCallId: step.toolCallId, tokens: countTokens(step.output) });
      }
    }
    for (const step of steps) apply(step);

    let finalText: string;
    for (;;) {
      const modelSteps = steps.filter((s) => s.kind === 'model') as Array<Extract<Step, { kind: 'model' }>>;
      const lastModel = modelSteps[modelSteps.length - 1];
      const lastModelIndex = lastModel ? steps.lastIndexOf(lastModel) : -1;
      if (lastModel && lastModel.toolCalls.length > 0) {
        const answered = new Set(steps.slice(lastModelIndex + 1).map((s) => (s.kind === 'tool' ? s.toolCallId : '')));
        const open = lastModel.toolCalls.filter((c) => !answered.has(c.id));
        if (open.length > 0) {
          for (const call of open) await record(await runToolCall(call, modelSteps.length, tools));
          continue;
        }
      }
      if (lastModel && lastModel.toolCalls.length === 0) {
        finalText = lastModel.content;
        break;
      }
      if (modelSteps.length >= deps.maxToolSteps) {
        finalText = `${lastModel?.content ?? ''}\n\n(I stopped after ${deps.maxToolSteps} tool steps without a final answer.)`.trim();
        break;
      }
      const built = buildContext({ systemPrompt: deps.systemPrompt, history, current, tools, budgetTokens: deps.contextBudgetTokens });
      const deltas = new DeltaBuffer((text) => ctx.store.appendEvent(ctx.sessionKey, { type: 'delta', turnId: ctx.turnId, text }));
      let completion;
      try {
        completion = await llm.complete({ messages: built.messages, tools, onDelta: (t) => deltas.push(t) });
      } finally {
        await deltas.close();
      }
      await record({
        kind: 'model',
        content: completion.content,
        toolCalls: completion.toolCalls,
        model: completion.model,
        promptTokens: completion.usage.promptTokens,
        completionTokens: completion.usage.completionTokens,
      });
    }

    const modelSteps = steps.filter((s) => s.kind === 'model') as Array<Extract<Step, { kind: 'model' }>>;
    const outcome = await deps.transcripts.commit({
      sessionKey: ctx.sessionKey,
      fence,
      turnId: ctx.turnId,
      inboundIds: inReplyTo,
      replyText: finalText,
      model: modelSteps[modelSteps.length - 1]?.model,
      promptTokens: modelSteps.reduce((n, s) => n + s.promptTokens, 0),
      completionTokens: modelSteps.reduce((n, s) => n + s.completionTokens, 0),
      rows,
    });
    if (outcome === 'fenced') throw new FencedError(ctx.sessionKey, fence);
    await deliver(finalText);

    async function runToolCall(call: LlmToolCall, step: number, offered: ToolDefinition[]): Promise<Step> {
      const check = deps.validator.check(offered, call.name, call.argumentsJson);
      if (!check.ok) {
        // Not the tool's fault and not run: the model gets the reason and may correct itself.
        return { kind: 'tool', toolCallId: call.id, name: call.name, output: `error: ${check.error}`, ok: false };
      }
      const def = offered.find((t) => t.name === call.name)!;
      await ctx.store.appendEvent(
        ctx.sessionKey,
        { type: 'tool_call', turnId: ctx.turnId, toolCallId: call.id, tool: call.name, arguments: check.args },
        `tc-${ctx.turnId}-${step}-${call.id}`,
      );
      const result = await deps.tools.run(
        {
          v: 1,
          turnId: ctx.turnId,
          toolCallId: call.id,
          sessionKey: ctx.sessionKey,
          platform: first.platform,
          userId: first.userId,
          tool: call.name,
          arguments: check.args,
          timeoutMs: def.timeoutMs,
        },
        step,
        def.timeoutMs + 10_000,
      );
      const output = result.ok ? result.output : `error: ${result.output}`;
      await ctx.store.appendEvent(
        ctx.sessionKey,
        { type: 'tool_result', turnId: ctx.turnId, toolCallId: call.id, tool: call.name, ok: result.ok, output: result.output },
        `tr-${ctx.turnId}-${step}-${call.id}`,
      );
      return { kind: 'tool', toolCallId: call.id, name: call.name, output, ok: result.ok };
    }
  };
}

function offeredTools(all: ToolDefinition[], enabled: string[] | undefined): ToolDefinition[] {
  if (!enabled) return all;
  const set = new Set(enabled);
  return all.filter((t) => set.has(t.name));
}
