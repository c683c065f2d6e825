import { resolve } from 'node:path';
import { z } from 'zod';
import { CommonEnv, csv, int, optionalString, parseEnv, urlString, type Env } from '@switchboard/config';
import { loadMcpServers, type McpServerConfig } from './mcp/config.ts';
import type { WebSearchSettings } from './tools/web-search-providers.ts';

const MIB = 1024 * 1024;

/** Host /etc entries (relative names, no `..`) that the shell sandbox may see in addition to the defaults. */
const etcEntries = csv.refine((list) => list.every((e) => e !== '' && !e.startsWith('/') && !e.split('/').includes('..')), {
  message: 'entries must be relative to /etc and must not contain ".."',
});

export const ToolRunnerEnv = CommonEnv.extend({
  /** Port of the ops server (/healthz, /readyz, /metrics). */
  PORT: int(9102, { min: 0, max: 65535 }),
  /** Largest tool output handed back to the model, in bytes (default 16 KiB). */
  TOOL_OUTPUT_MAX_BYTES: int(16_384, { min: 256 }),
  /** Root directory of the per-session workspaces (default `<DATA_DIR or ./data>/workspaces`). */
  TOOL_WORKSPACES_DIR: optionalString,
  /** bubblewrap binary: a name searched in /usr/local/bin, /usr/bin, /bin, or an absolute path (default `bwrap`). */
  BWRAP_PATH: optionalString,
  /** uid the sandboxed shell runs as (default 65534; never 0). When the runner is root, also the host uid that owns workspaces. */
  SANDBOX_UID: int(65534, { min: 1, max: 4_294_967_294 }),
  /** gid the sandboxed shell runs as (default 65534; never 0). */
  SANDBOX_GID: int(65534, { min: 1, max: 4_294_967_294 }),
  /** Wall-time limit of one shell run in ms, and the most a call may ask for (default 60 000). */
  SHELL_TIMEOUT_MS: int(60_000, { min: 1_000, max: 3_600_000 }),
  /** RLIMIT_CPU of each sandboxed process, in CPU seconds (default 60). */
  SHELL_CPU_SECONDS: int(60, { min: 1, max: 86_400 }),
  /** RLIMIT_AS (address space) of each sandboxed process, in MiB (default 1024). */
  SHELL_MEMORY_MB: int(1024, { min: 64, max: 1_048_576 }),
  /** RLIMIT_FSIZE: largest file the shell may write, in MiB (default 256). */
  SHELL_MAX_FILE_MB: int(256, { min: 1, max: 1_048_576 }),
  /** RLIMIT_NPROC: processes one sandbox may have (default 128). */
  SHELL_MAX_PROCESSES: int(128, { min: 8, max: 100_000 }),
  /** RLIMIT_NOFILE: open files per sandboxed process (default 256). */
  SHELL_MAX_OPEN_FILES: int(256, { min: 16, max: 65_536 }),
  /** Size of the sandbox's private /tmp, in MiB (default 64). */
  SHELL_TMP_MB: int(64, { min: 1, max: 65_536 }),
  /** Output (stdout + stderr) after which a shell command is killed, in MiB (default 16). */
  SHELL_MAX_OUTPUT_MB: int(16, { min: 1, max: 1024 }),
  /** Disk quota of one session's workspace (shell, write_file, edit_file), in MiB (default 1024). */
  WORKSPACE_MAX_MB: int(1024, { min: 1, max: 1_048_576 }),
  /** Extra host /etc entries bound read-only into the sandbox, comma-separated (e.g. `python3,ssl`). */
  SHELL_ETC_PATHS: etcEntries,
  /** Deadline of one web_fetch including redirects, in ms (default 15 000). */
  WEB_FETCH_TIMEOUT_MS: int(15_000, { min: 1_000, max: 300_000 }),
  /** Response bytes web_fetch reads at most, after decompression (default 2 MiB). */
  WEB_FETCH_MAX_BYTES: int(2 * MIB, { min: 1024, max: 64 * MIB }),
  /** Hosts `http_request` may call, comma-separated `host` or `host:port`; unset: the tool is off. */
  HTTP_REQUEST_ALLOWED_HOSTS: csv.transform((list) => list.map((h) => h.toLowerCase())),
  /**
   * Headers the runner adds to `http_request` calls, as JSON `{ "<host>": { "<header>": "<value>" } }`
   * (e.g. `{"api.example.com":{"Authorization":"Bearer ..."}}`). Never shown to the model or logged.
   */
  HTTP_REQUEST_CREDENTIALS: optionalString.pipe(
    z
      .string()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined) return {};
        try {
          return z.record(z.string(), z.record(z.string(), z.string())).parse(JSON.parse(raw));
        } catch {
          // Never echo the value: it holds secrets.
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object of host -> { header: value }' });
          return z.NEVER;
        }
      }),
  ),
  /**
   * MCP servers as JSON: `{"mcpServers":{"<name>":{"command":"...","args":[],"env":{}}|{"url":"...","headers":{}}}}`
   * or just the inner map. Merged with MCP_CONFIG_FILE; see `mcp/README.md`.
   */
  MCP_SERVERS: optionalString,
  /** Path of a JSON file `{ "mcpServers": { ... } }` (the shape MCP clients share). */
  MCP_CONFIG_FILE: optionalString,
  /** Deadline of connecting to one MCP server and of each tools/list page, in ms (default 10 000). */
  MCP_CONNECT_TIMEOUT_MS: int(10_000, { min: 100, max: 300_000 }),
  /** Default wall-time limit of one MCP tool call, in ms (default 60 000); a server's `timeoutMs` overrides it. */
  MCP_TOOL_TIMEOUT_MS: int(60_000, { min: 1_000, max: 3_600_000 }),
  /** Health-ping interval of connected MCP servers, in ms (default 30 000; 0: off). A failed ping reconnects. */
  MCP_PING_INTERVAL_MS: int(30_000, { min: 0, max: 3_600_000 }),
  /** Backend of `web_search`: `brave`, `searxng` or `tavily`; unset: the tool is off. Each needs its key or URL below. */
  WEB_SEARCH_PROVIDER: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.enum(['brave', 'searxng', 'tavily']).optional()),
  /** Brave Search API subscription token (sent as `X-Subscription-Token`); required with `WEB_SEARCH_PROVIDER=brave`. */
  BRAVE_API_KEY: optionalString,
  /** Base URL of the Brave Search API, for a proxy or a test double (default `https://api.search.brave.com`). */
  BRAVE_API_URL: urlString(['https:', 'http:']),
  /** Base URL of a SearXNG instance with the JSON format enabled; required with `WEB_SEARCH_PROVIDER=searxng`. */
  SEARXNG_URL: urlString(['https:', 'http:']),
  /** Tavily API key (sent as `Authorization: Bearer`); required with `WEB_SEARCH_PROVIDER=tavily`. */
  TAVILY_API_KEY: optionalString,
  /** Base URL of the Tavily API, for a proxy or a test double (default `https://api.tavily.com`). */
  TAVILY_API_URL: urlString(['https:', 'http:']),
});

type ParsedEnv = z.infer<typeof ToolRunnerEnv>;

/** The variable each search provider cannot work without. */
const WEB_SEARCH_REQUIRED = { brave: 'BRAVE_API_KEY', searxng: 'SEARXNG_URL', tavily: 'TAVILY_API_KEY' } as const;

/**
 * Refuses a WEB_SEARCH_PROVIDER whose key or URL is missing, naming that variable. Applied in
 * {@link loadToolRunnerConfig} rather than on ToolRunnerEnv itself, so the schema stays a plain
 * object that can still be `.extend`ed.
 */
function requireWebSearchSettings(env: ParsedEnv, ctx: z.RefinementCtx): void {
  const provider = env.WEB_SEARCH_PROVIDER;
  if (provider === undefined) return;
  const variable = WEB_SEARCH_REQUIRED[provider];
  if (env[variable] === undefined) ctx.addIssue({ code: 'custom', path: [variable], message: `is required when WEB_SEARCH_PROVIDER is ${provider}` });
}

/** The chosen search provider's settings, defaults filled in; undefined when WEB_SEARCH_PROVIDER is unset. */
function webSearchSettings(env: ParsedEnv): WebSearchSettings | undefined {
  // requireWebSearchSettings has already checked that the provider's key or URL is set.
  switch (env.WEB_SEARCH_PROVIDER) {
    case 'brave':
      return { provider: 'brave', apiKey: env.BRAVE_API_KEY!, baseUrl: env.BRAVE_API_URL ?? 'https://api.search.brave.com' };
    case 'searxng':
      return { provider: 'searxng', baseUrl: env.SEARXNG_URL! };
    case 'tavily':
      return { provider: 'tavily', apiKey: env.TAVILY_API_KEY!, baseUrl: env.TAVILY_API_URL ?? 'https://api.tavily.com' };
    default:
      return undefined;
  }
}

/** The parsed configuration plus values derived from it. */
export type ToolRunnerConfig = ParsedEnv & {
  /** Absolute root of the workspaces: TOOL_WORKSPACES_DIR, else `<DATA_DIR or ./data>/workspaces`. */
  workspacesDir: string;
  /** MCP servers from MCP_CONFIG_FILE and MCP_SERVERS, validated (stdio servers get only their `env` plus PATH). */
  mcpServers: McpServerConfig[];
  /** The `web_search` backend chosen by WEB_SEARCH_PROVIDER and its variables; undefined: none configured. */
  webSearch: WebSearchSettings | undefined;
};

export function loadToolRunnerConfig(env: Env = process.env): ToolRunnerConfig {
  const parsed = parseEnv(ToolRunnerEnv.superRefine(requireWebSearchSettings), env);
  const workspacesDir = resolve(parsed.TOOL_WORKSPACES_DIR ?? resolve(parsed.DATA_DIR ?? './data', 'workspaces'));
  const mcpServers = loadMcpServers({ serversJson: parsed.MCP_SERVERS, configFile: parsed.MCP_CONFIG_FILE, path: env.PATH });
  return { ...parsed, workspacesDir, mcpServers, webSearch: webSearchSettings(parsed) };
}
