import { Ajv, type ValidateFunction } from 'ajv';
import type { ToolDefinition } from '@switchboard/contracts';

export type ToolCallCheck =
  | { ok: true; args: Record<string, unknown> }
  | { ok: false; error: string };

/**
 * Checks a model's tool call before anything runs: the tool must be offered, the arguments must be
 * a JSON object, and they must satisfy the tool's JSON Schema. The error text goes back to the
 * model so it can correct itself.
 */
export class ToolCallValidator {
  // MCP tools bring their servers' schemas, `$id` and all, often one `$id` for many tools (or for a
  // tool's old and new schema): registered in one instance, the second compile would throw
  // ("already exists") out of `check`. A schema with an `$id` is therefore compiled in an instance
  // of its own (which must register it: a `$ref` to its own `$id`, as in a recursive schema,
  // resolves only then); the shared one, for the others, registers none.
  private readonly ajv = new Ajv({ allErrors: true, strict: false, addUsedSchema: false });
  /** Per tool name: its schema's text and compiled check (undefined: the schema does not compile). */
  private readonly compiled = new Map<string, { source: string; fn: ValidateFunction | undefined }>();

  check(tools: ToolDefinition[], name: string, argumentsJson: string): ToolCallCheck {
    const def = tools.find((t) => t.name === name);
    if (!def) {
      const offered = tools.map((t) => t.name).join(', ') || 'none';
      return { ok: false, error: `unknown tool "${name}"; available tools: ${offered}` };
    }
    let args: unknown;
    try {
      args = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
    } catch (err) {
      return { ok: false, error: `arguments are not valid JSON (${(err as Error).message}); send a JSON object` };
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return { ok: false, error: 'arguments must be a JSON object' };
    }
    const validate = this.validatorFor(def);
    if (validate && !validate(args)) {
      const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '(arguments)'} ${e.message ?? 'is invalid'}`);
      return { ok: false, error: `arguments do not match the schema of ${name}: ${problems.join('; ')}` };
    }
    return { ok: true, args: args as Record<string, unknown> };
  }

  /** The compiled schema of `def`, or undefined when Ajv cannot compile it. */
  private validatorFor(def: ToolDefinition): ValidateFunction | undefined {
    const source = JSON.stringify(def.parameters);
    const cached = this.compiled.get(def.name);
    if (cached && cached.source === source) return cached.fn;
    // Ajv keeps every schema it compiled: the superseded one goes (MCP schemas change at run time).
    // (One compiled in an instance of its own goes with its entry.)
    if (cached?.fn && !cached.source.includes('"$id"')) this.ajv.removeSchema(cached.fn.schema as object);
    let fn: ValidateFunction | undefined;
    try {
      fn = (source.includes('"$id"') ? new Ajv({ allErrors: true, strict: false }) : this.ajv).compile(def.parameters);
    } catch {
      // A schema Ajv cannot compile (an invalid `pattern`, a `$ref` to nowhere): the runner offers
      // such an MCP tool and leaves checking its arguments to the server, so it is not checked here
      // either (a throw would fail the turn at every call of the tool).
      fn = undefined;
    }
    this.compiled.set(def.name, { source, fn });
    return fn;
  }
}
