import { z } from 'zod';
import type { ToolDefinition } from '@switchboard/contracts';

/** What a tool run may know about where it runs. */
export interface ToolContext {
  sessionKey: string;
  userId: string;
  platform: string;
  turnId: string;
  toolCallId: string;
  /** Aborted when the run's time limit passes or the runner shuts down. */
  signal: AbortSignal;
  /**
   * Absolute path of the session's private workspace directory on the runner's host (created
   * before the run, mode 0700), for a tool that declares `usesWorkspace`. Unset otherwise, and
   * when the runner has no workspaces; tools that need one must then fail rather than fall back to
   * another directory.
   */
  workspaceDir?: string;
  /** Where the session lives on its platform (set by current agent workers). */
  account?: string;
  chatId?: string;
  threadId?: string;
  /** One person's own conversation (one speaker, not a group): only then may a tool reach that user's private data. */
  personal?: boolean;
  /** Tool-specific options for this agent, channel and user (policy file `settings`); empty when none. */
  settings?: Readonly<Record<string, unknown>>;
  /**
   * The run's output cap in bytes of UTF-8: the runner cuts longer output at its end. A tool whose
   * output has parts (a command's stdout and stderr) fits them itself so none is lost.
   */
  maxOutputBytes?: number;
}

/**
 * A tool is a plugin: its own module declaring a name, a description, an argument schema (sent to
 * the model as JSON Schema), a risk level and `execute`. Adding one changes no core file.
 */
export interface ToolPlugin<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  parameters: S;
  risk: 'low' | 'medium' | 'high';
  /**
   * True when the output is the tool's own text (not content from files, the web or other
   * systems). Everything else reaches the model marked as untrusted data.
   */
  outputTrusted?: boolean;
  /**
   * The tool marks the outside content in its output itself (`wrapUntrusted`), as web_fetch and MCP
   * tools do; the runner does not wrap it again. Declared, never guessed from the output's text:
   * content that merely starts like a wrapper (a file written to look like one) is still wrapped.
   */
  wrapsOwnOutput?: boolean;
  /**
   * Long-running: the turn does not wait. The model is told the run started, and the result is
   * posted into the session as a system event when it finishes, which starts a new turn.
   */
  background?: boolean;
  /** Wall-time limit of one run in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * The tool works in the session's workspace (`ctx.workspaceDir`), which the runner then creates
   * before the run. Other tools get none, and no directory is made for their sessions.
   */
  usesWorkspace?: boolean;
  /** Returns the text the model sees. Throwing reports a failed run to the model. */
  execute(args: z.infer<S>, ctx: ToolContext): Promise<string>;
}

/** Defines a tool with its argument types inferred from the schema. */
export function defineTool<S extends z.ZodType>(plugin: ToolPlugin<S>): ToolPlugin<S> {
  return plugin;
}

export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/** The model-facing definition of a plugin: JSON Schema generated from its zod schema. */
export function toDefinition(plugin: ToolPlugin): ToolDefinition {
  const schema = z.toJSONSchema(plugin.parameters, { target: 'draft-7' }) as Record<string, unknown>;
  delete schema.$schema;
  return {
    name: plugin.name,
    description: plugin.description,
    parameters: schema,
    timeoutMs: plugin.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
    risk: plugin.risk,
    ...(plugin.background ? { background: true } : {}),
  };
}
