import { globToRegExp, PolicyFile, type Decision, type PolicyFileInput, type PolicyRule, type ToolSettingsRule } from './rules.ts';

/** Who wants to run what, and where. */
export interface PolicyContext {
  tool: string;
  agent?: string | undefined;
  channel?: string | undefined;
  user?: string | undefined;
}

export interface PolicyVerdict {
  decision: Decision;
  /** Why, for the model (on deny), the approver (on ask) and the audit log. */
  reason: string;
  /** Index of the deciding rule, or -1 for the default or an environment override. */
  rule: number;
}

interface CompiledRule {
  source: PolicyRule;
  tool: RegExp[];
  agent?: RegExp[];
  channel?: RegExp[];
  user?: RegExp[];
  args?: Array<[string, RegExp]>;
}

/** A tool's settings in one scope (see `ToolSettingsRule`); absent keys leave the runner's defaults. */
export interface ToolSettings {
  timeoutMs?: number;
  maxOutputBytes?: number;
  options: Record<string, unknown>;
}

export interface PolicyOverrides {
  /** TOOLS_ENABLED: when set, every tool not listed is denied. */
  enabled?: string[] | undefined;
  /** TOOLS_ASK: tools listed need a human's approval before each run (unless denied). */
  ask?: string[] | undefined;
}

const matchesAny = (patterns: RegExp[] | undefined, value: string | undefined) =>
  patterns === undefined || (value !== undefined && patterns.some((p) => p.test(value)));

function argText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}

/**
 * Decides allow, deny or ask for a tool call. Evaluation order: TOOLS_ENABLED (a tool not listed
 * is denied), then the rules in order (first match wins), then TOOLS_ASK (turns an allow into
 * ask), then the default. The same engine runs in the agent worker (before offering and before
 * dispatching) and again in the tool-runner (before running).
 */
export class PolicyEngine {
  private readonly rules: CompiledRule[];
  private readonly settingRules: Array<{ source: ToolSettingsRule; tool: RegExp[]; agent?: RegExp[]; channel?: RegExp[]; user?: RegExp[] }>;
  private readonly fallback: Decision;
  private readonly enabled: Set<string> | undefined;
  private readonly ask: Set<string>;

  constructor(file: PolicyFileInput = {}, overrides: PolicyOverrides = {}) {
    const parsed = PolicyFile.parse(file);
    this.fallback = parsed.default;
    this.enabled = overrides.enabled ? new Set(overrides.enabled) : undefined;
    this.ask = new Set(overrides.ask ?? []);
    this.rules = parsed.rules.map((rule) => ({
      source: rule,
      tool: rule.tool.map(globToRegExp),
      ...(rule.agent ? { agent: rule.agent.map(globToRegExp) } : {}),
      ...(rule.channel ? { channel: rule.channel.map(globToRegExp) } : {}),
      ...(rule.user ? { user: rule.user.map(globToRegExp) } : {}),
      ...(rule.args ? { args: Object.entries(rule.args).map(([k, v]) => [k, new RegExp(v)] as [string, RegExp]) } : {}),
    }));
    this.settingRules = parsed.settings.map((rule) => ({
      source: rule,
      tool: rule.tool.map(globToRegExp),
      ...(rule.agent ? { agent: rule.agent.map(globToRegExp) } : {}),
      ...(rule.channel ? { channel: rule.channel.map(globToRegExp) } : {}),
      ...(rule.user ? { user: rule.user.map(globToRegExp) } : {}),
    }));
  }

  /**
   * The settings of `ctx.tool` for this agent, channel and user: every matching settings entry in
   * order, later ones overriding earlier ones key by key (`options` merged the same way).
   */
  settings(ctx: PolicyContext): ToolSettings {
    const out: ToolSettings = { options: {} };
    for (const rule of this.settingRules) {
      if (!rule.tool.some((p) => p.test(ctx.tool))) continue;
      if (!matchesAny(rule.agent, ctx.agent) || !matchesAny(rule.channel, ctx.channel) || !matchesAny(rule.user, ctx.user)) continue;
      if (rule.source.timeoutMs !== undefined) out.timeoutMs = rule.source.timeoutMs;
      if (rule.source.maxOutputBytes !== undefined) out.maxOutputBytes = rule.source.maxOutputBytes;
      if (rule.source.options) Object.assign(out.options, rule.source.options);
    }
    return out;
  }

  /** The verdict for a call with these arguments. */
  decide(ctx: PolicyContext, args: Record<string, unknown>): PolicyVerdict {
    return this.evaluate(ctx, (rule) => !rule.args || rule.args.every(([name, re]) => name in args && re.test(argText(args[name]))));
  }

  /**
   * Whether a tool may be offered to the model at all: false only when it is denied whatever its
   * arguments (rules with argument conditions cannot deny a tool before it is called). A rule
   * without argument conditions that denies the tool here hides it; the default `deny` does not
   * hide a tool that a rule allows (or asks for) with some arguments, since under `default: deny`
   * such rules are the allow list.
   */
  offers(ctx: PolicyContext): boolean {
    const verdict = this.evaluate(ctx, (rule) => !rule.args);
    if (verdict.decision !== 'deny') return true;
    if (verdict.rule !== -1 || (this.enabled && !this.enabled.has(ctx.tool))) return false;
    // Only the default denies: offered if some arguments may pass a rule.
    return this.rules.some((rule) => rule.args !== undefined && rule.source.decision !== 'deny' && this.scopeMatches(rule, ctx));
  }

  private scopeMatches(rule: CompiledRule, ctx: PolicyContext): boolean {
    return rule.tool.some((p) => p.test(ctx.tool)) && matchesAny(rule.agent, ctx.agent) && matchesAny(rule.channel, ctx.channel) && matchesAny(rule.user, ctx.user);
  }

  private evaluate(ctx: PolicyContext, argsMatch: (rule: CompiledRule) => boolean): PolicyVerdict {
    if (this.enabled && !this.enabled.has(ctx.tool)) return { decision: 'deny', reason: `${ctx.tool} is not in TOOLS_ENABLED`, rule: -1 };
    let verdict: PolicyVerdict = { decision: this.fallback, reason: `default policy: ${this.fallback}`, rule: -1 };
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (!this.scopeMatches(rule, ctx)) continue;
      if (!argsMatch(rule)) continue;
      verdict = { decision: rule.source.decision, reason: rule.source.reason ?? `policy rule ${i + 1}: ${rule.source.decision}`, rule: i };
      break;
    }
    if (verdict.decision === 'allow' && this.ask.has(ctx.tool)) return { decision: 'ask', reason: `${ctx.tool} is in TOOLS_ASK`, rule: -1 };
    return verdict;
  }
}
