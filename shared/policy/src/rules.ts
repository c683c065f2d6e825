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

export const PolicyFile = z
  .object({
    /** What happens when no rule matches (default `allow`). */
    default: Decision.default('allow'),
    rules: z.array(PolicyRule).default([]),
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
