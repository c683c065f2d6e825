import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SwitchboardError } from '@switchboard/contracts';

/** Longest server name (after sanitising) that can appear in `mcp__<server>__<tool>`; leaves >= 33 chars for the tool. */
export const MAX_SERVER_NAME_LENGTH = 24;

const risk = z.enum(['low', 'medium', 'high']);
const timeoutMs = z.number().int().min(1_000).max(3_600_000);

/** Fields every entry may carry besides its transport's own. */
const common = {
  /** Ignored when `true` (several MCP clients write this). */
  disabled: z.boolean().optional(),
  /**
   * Risk level of every tool of this server (default `medium`: offered, subject to POLICY_FILE,
   * TOOLS_ENABLED and TOOLS_ASK like any tool; `high`: off unless TOOLS_ENABLED names the tool).
   */
  risk: risk.optional(),
  /** Wall-time limit of one tool call in ms (default MCP_TOOL_TIMEOUT_MS). */
  timeoutMs: timeoutMs.optional(),
};

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const StdioEntry = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1, 'must be a non-empty string'),
  args: z.array(z.string()).optional(),
  env: z
    .record(z.string(), z.string())
    .superRefine((env, ctx) => {
      for (const key of Object.keys(env)) {
        if (!envName.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'variable names must match [A-Za-z_][A-Za-z0-9_]*' });
      }
    })
    .optional(),
  cwd: z.string().min(1).optional(),
  ...common,
});

const HttpEntry = z.strictObject({
  type: z.enum(['http', 'streamable-http', 'streamableHttp']).optional(),
  url: z
    .string()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), { message: 'must be an absolute http:// or https:// URL' })
    // fetch refuses such a URL with an error that quotes it whole, password and all (into the log):
    // credentials belong in `headers`.
    .refine((v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''), {
      message: 'must not contain credentials (user:password@); send them in "headers", e.g. Authorization',
    }),
  headers: z
    .record(
      z.string(),
      z.string().refine((v) => !/[\r\n\0]/.test(v), { message: 'header values must not contain line breaks' }),
    )
    .superRefine((headers, ctx) => {
      for (const key of Object.keys(headers)) {
        if (!headerName.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'header names must be HTTP tokens' });
      }
    })
    .optional(),
  ...common,
});

/** A server started as a child process and spoken to over its stdin/stdout. */
export interface McpStdioServerConfig {
  transport: 'stdio';
  /** Sanitised name used in tool names (`mcp__<name>__<tool>`) and logs. */
  name: string;
  /** The key as written in the configuration. */
  configName: string;
  command: string;
  args: string[];
  /**
   * The child's complete environment: the entry's `env` plus the runner's PATH (unless `env` sets
   * PATH). Nothing else of the runner's environment is passed on.
   */
  env: Record<string, string>;
  cwd?: string;
  risk: 'low' | 'medium' | 'high';
  timeoutMs?: number;
}

/** A server reached over the Streamable HTTP transport. */
export interface McpHttpServerConfig {
  transport: 'http';
  name: string;
  configName: string;
  url: string;
  /** Sent with every request (e.g. `Authorization`). Never logged. */
  headers: Record<string, string>;
  risk: 'low' | 'medium' | 'high';
  timeoutMs?: number;
}

export type McpServerConfig = McpStdioServerConfig | McpHttpServerConfig;

/**
 * The name a server's tools carry: characters outside `[A-Za-z0-9_-]` become `_`, runs of `_` collapse
 * and leading/trailing `_` go, so the name never contains the `__` separator of `mcp__<server>__<tool>`
 * and two servers can never produce the same tool name.
 */
export function sanitizeServerName(name: string): string {
  return name
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Where the JSON came from, for error messages. */
type Source = 'MCP_SERVERS' | 'MCP_CONFIG_FILE';

function jsonProblem(err: unknown): string {
  // V8 quotes part of the input in its message; report only the position, never the text (it may hold secrets).
  const position = /position (\d+)/.exec(String((err as Error).message))?.[1];
  return position === undefined ? 'is not valid JSON' : `is not valid JSON (error at character ${position})`;
}

function formatIssues(prefix: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const field = issue.path.length > 0 ? `field "${issue.path.map(String).join('.')}"` : 'entry';
    // Messages name fields and expected types only; zod never quotes the rejected value.
    return `${prefix}: ${field}: ${issue.message}`;
  });
}

function parseEntry(source: Source, configName: string, raw: unknown, path: string | undefined, problems: string[]): McpServerConfig | undefined {
  const prefix = `${source} server "${configName}"`;
  const name = sanitizeServerName(configName);
  if (name === '' || name.length > MAX_SERVER_NAME_LENGTH) {
    problems.push(`${prefix}: the name must contain a letter or digit and be at most ${MAX_SERVER_NAME_LENGTH} characters once characters outside [A-Za-z0-9_-] are replaced`);
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`${prefix}: must be an object with "command" (stdio) or "url" (Streamable HTTP)`);
    return undefined;
  }
  const entry = raw as Record<string, unknown>;
  const type = entry.type;
  if (type === 'sse') {
    problems.push(`${prefix}: field "type": the legacy SSE transport is not supported; use a Streamable HTTP URL`);
    return undefined;
  }
  if (type !== undefined && !['stdio', 'http', 'streamable-http', 'streamableHttp'].includes(type as string)) {
    problems.push(`${prefix}: field "type": must be "stdio" or "http"`);
    return undefined;
  }
  const isStdio = type === 'stdio' || (type === undefined && 'command' in entry);
  const isHttp = type !== undefined ? !isStdio : 'url' in entry;
  if (type === undefined && 'command' in entry && 'url' in entry) {
    problems.push(`${prefix}: has both "command" and "url"; give one (stdio or Streamable HTTP)`);
    return undefined;
  }
  if (!isStdio && !isHttp) {
    problems.push(`${prefix}: must have "command" (stdio) or "url" (Streamable HTTP)`);
    return undefined;
  }
  if (isStdio) {
    const parsed = StdioEntry.safeParse(entry);
    if (!parsed.success) {
      problems.push(...formatIssues(prefix, parsed.error.issues));
      return undefined;
    }
    if (parsed.data.disabled) return undefined;
    const d = parsed.data;
    return {
      transport: 'stdio',
      name,
      configName,
      command: d.command,
      args: d.args ?? [],
      env: { ...(path !== undefined ? { PATH: path } : {}), ...d.env },
      ...(d.cwd !== undefined ? { cwd: resolve(d.cwd) } : {}),
      risk: d.risk ?? 'medium',
      ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
    };
  }
  const parsed = HttpEntry.safeParse(entry);
  if (!parsed.success) {
    problems.push(...formatIssues(prefix, parsed.error.issues));
    return undefined;
  }
  if (parsed.data.disabled) return undefined;
  const d = parsed.data;
  return {
    transport: 'http',
    name,
    configName,
    url: d.url,
    headers: d.headers ?? {},
    risk: d.risk ?? 'medium',
    ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}),
  };
}

function serversOf(source: Source, doc: unknown, problems: string[]): Array<[string, unknown]> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    problems.push(`${source}: must be a JSON object`);
    return [];
  }
  const obj = doc as Record<string, unknown>;
  // The file has the shape MCP clients share ({ "mcpServers": { ... } }, other keys ignored); the
  // variable may also be the bare map of servers.
  const map = 'mcpServers' in obj ? obj.mcpServers : source === 'MCP_SERVERS' ? obj : undefined;
  if (map === undefined) {
    problems.push(`${source}: must have an "mcpServers" object`);
    return [];
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    problems.push(`${source}: "mcpServers" must be an object of server name -> server`);
    return [];
  }
  return Object.entries(map);
}

/** Inputs of {@link loadMcpServers}: the raw configuration values. */
export interface McpConfigInput {
  /** MCP_SERVERS: JSON, `{ "mcpServers": { ... } }` or just the `{ name: server }` map. */
  serversJson?: string | undefined;
  /** MCP_CONFIG_FILE: path of a JSON file `{ "mcpServers": { ... } }`. */
  configFile?: string | undefined;
  /** The runner's PATH, handed to stdio servers (their only inherited variable). */
  path?: string | undefined;
}

/**
 * Parses and validates the MCP server configuration from MCP_CONFIG_FILE and MCP_SERVERS (both may be
 * given; a name may appear only once). Throws a `config_error` that lists every problem by source,
 * server and field — never a value, as env and header values are often secrets.
 */
export function loadMcpServers(input: McpConfigInput): McpServerConfig[] {
  const problems: string[] = [];
  const docs: Array<[Source, unknown]> = [];
  if (input.configFile !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(input.configFile, 'utf8');
    } catch (err) {
      problems.push(`MCP_CONFIG_FILE: cannot read ${input.configFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (text !== undefined) {
      try {
        docs.push(['MCP_CONFIG_FILE', JSON.parse(text)]);
      } catch (err) {
        problems.push(`MCP_CONFIG_FILE: ${input.configFile} ${jsonProblem(err)}`);
      }
    }
  }
  if (input.serversJson !== undefined) {
    try {
      docs.push(['MCP_SERVERS', JSON.parse(input.serversJson)]);
    } catch (err) {
      problems.push(`MCP_SERVERS: ${jsonProblem(err)}`);
    }
  }
  const servers: McpServerConfig[] = [];
  const seen = new Map<string, string>();
  for (const [source, doc] of docs) {
    for (const [configName, raw] of serversOf(source, doc, problems)) {
      const server = parseEntry(source, configName, raw, input.path, problems);
      const key = sanitizeServerName(configName);
      const earlier = seen.get(key);
      if (earlier !== undefined && key !== '') {
        problems.push(`${source} server "${configName}": its name clashes with ${earlier} (tool names would be the same)`);
        continue;
      }
      seen.set(key, `${source} server "${configName}"`);
      if (server) servers.push(server);
    }
  }
  if (problems.length > 0) throw new SwitchboardError('config_error', `invalid MCP configuration: ${problems.join('; ')}`);
  return servers;
}
