import { z } from 'zod';

export const Decision = z.enum(['allow', 'deny', 'ask']);
export type Decision = z.infer<typeof Decision>;

/** A pattern list: `*` matches any run of characters; a bare string matches exactly. */
const Patterns = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

/**
 * One policy rule. Rules are checked in order and the first that matches decides. A rule matches
 * when every condition it names matches; conditions it leaves out match anything.
 */
export const PolicyRule = z
  .object({
    /** Tool names or globs (`mcp__github__*`). */
    tool: Patterns,
    decision: Decision,
    agent: Patterns.optional(),
    /** Platform of the session (`web`, `telegram`, …). */
    channel: Patterns.optional(),
    /** Platform user ids. */
    user: Patterns.optional(),
    /**
     * Argument conditions: argument name → regular expression tested against the argument's value
     * (strings as they are, other values as JSON). All must match.
     */
    args: z.record(z.string(), z.string()).optional(),
    reason: z.string().optional(),
  })
  .strict();
export type PolicyRule = z.infer<typeof PolicyRule>;

/**
 * Settings of a tool in a scope: every entry whose conditions match applies, in order, so a later
 * (more specific) entry overrides an earlier one key by key. A setting can only tighten what the
 * runner allows (time and output are capped at the runner's own limits).
 */
export const ToolSettingsRule = z
  .object({
    /** Tool names or globs. */
    tool: Patterns,
    agent: Patterns.optional(),
    channel: Patterns.optional(),
    user: Patterns.optional(),
    /** Wall-time limit of one run, in ms. */
    timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
    /** Output handed back to the model, in bytes. */
    maxOutputBytes: z.number().int().min(256).max(16 * 1024 * 1024).optional(),
    /** Tool-specific options, handed to the tool as `ctx.settings` (merged key by key). */
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ToolSettingsRule = z.infer<typeof ToolSettingsRule>;

export const PolicyFile = z
  .object({
    /** What happens when no rule matches (default `allow`). */
    default: Decision.default('allow'),
    rules: z.array(PolicyRule).default([]),
    /** Per-scope tool settings (tool, agent, channel, user). */
    settings: z.array(ToolSettingsRule).default([]),
  })
  .strict();
export type PolicyFile = z.infer<typeof PolicyFile>;
/** A policy as written (single patterns may be plain strings). */
export type PolicyFileInput = z.input<typeof PolicyFile>;

/** Compiles a glob with only `*` wildcards into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}
