import type { LlmToolCall } from './types.ts';

/** The fields of a `chat.completion.chunk` the assembler reads (a subset of the SDK type). */
export interface StreamChunk {
  choices?: Array<{
    index?: number;
    delta?: {
      content?: string | null;
      tool_calls?: Array<{
        index?: number;
        id?: string | null;
        function?: { name?: string | null; arguments?: string | null } | null;
      }> | null;
    } | null;
    finish_reason?: string | null;
  }> | null;
  usage?: { prompt_tokens?: number | null; completion_tokens?: number | null } | null;
}

/** The state of one stream once it has ended. */
export interface AssembledStream {
  content: string;
  toolCalls: LlmToolCall[];
  /** `undefined` when the stream ended without a finish reason (cut off). */
  finishReason: string | undefined;
  usage: { promptTokens: number; completionTokens: number } | undefined;
}

interface PartialToolCall {
  id: string;
  name: string;
  args: string[];
}

/**
 * Accumulates streamed chunks of choice 0 into text, tool calls and usage.
 *
 * Tool calls are keyed by their `index`: the first fragment of a call carries its id and name,
 * later fragments only more of the arguments text. Like the OpenAI SDK's own accumulator, a
 * repeated name replaces the earlier one instead of being appended. A fragment whose id differs
 * from the one its index already holds starts a new call (servers that send every call at index
 * 0, or none), so two calls are never merged into one with both argument texts run together.
 */
export class StreamAssembler {
  private readonly text: string[] = [];
  /** Every call in the order it started, with the index it came at. */
  private readonly calls: Array<{ index: number; call: PartialToolCall }> = [];
  /** The call each index currently adds to. */
  private readonly open = new Map<number, PartialToolCall>();
  private finishReason: string | undefined;
  private usage: AssembledStream['usage'];

  /** Adds one chunk; returns the text fragment it carried ('' if none). */
  push(chunk: StreamChunk): string {
    if (chunk.usage) {
      this.usage = {
        promptTokens: chunk.usage.prompt_tokens ?? 0,
        completionTokens: chunk.usage.completion_tokens ?? 0,
      };
    }
    const choice = chunk.choices?.find((c) => (c.index ?? 0) === 0);
    if (choice === undefined) return '';
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    const delta = choice.delta;
    if (!delta) return '';
    const toolCalls = delta.tool_calls ?? [];
    for (let position = 0; position < toolCalls.length; position++) {
      const fragment = toolCalls[position]!;
      // Some compatible servers omit `index`; fall back to the position within the chunk.
      const index = fragment.index ?? position;
      let call = this.open.get(index);
      if (call === undefined || (fragment.id && call.id && fragment.id !== call.id)) {
        call = { id: '', name: '', args: [] };
        this.open.set(index, call);
        this.calls.push({ index, call });
      }
      if (fragment.id) call.id = fragment.id;
      if (fragment.function?.name) call.name = fragment.function.name;
      if (fragment.function?.arguments) call.args.push(fragment.function.arguments);
    }
    const content = delta.content ?? '';
    if (content !== '') this.text.push(content);
    return content;
  }

  /**
   * The assembled result: tool calls in index order (calls at the same index in the order they
   * started); a missing id is generated and a repeated one made unique, so each call's result
   * answers that call alone.
   */
  result(): AssembledStream {
    const seen = new Set<string>();
    const toolCalls = [...this.calls]
      .sort((a, b) => a.index - b.index)
      .map(({ index, call }) => {
        const base = call.id || `call_${index}_${Math.random().toString(36).slice(2, 10)}`;
        let id = base;
        for (let n = 2; seen.has(id); n++) id = `${base}_${n}`;
        seen.add(id);
        return { id, name: call.name, argumentsJson: call.args.join('') };
      });
    return { content: this.text.join(''), toolCalls, finishReason: this.finishReason, usage: this.usage };
  }
}
