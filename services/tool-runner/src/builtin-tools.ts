import type { Logger } from '@switchboard/observability';
import type { ToolPlugin } from '@switchboard/tools';
import type { ToolRunnerConfig } from './config.ts';
import { DEFAULT_SANDBOX_ETC } from './sandbox/bwrap.ts';
import { probeSandbox } from './sandbox/probe.ts';
import type { Workspaces } from './sandbox/workspaces.ts';
import { echoTool } from './tools/echo.ts';
import { createEditFileTool } from './tools/edit-file.ts';
import { createHttpRequestTool } from './tools/http-request.ts';
import { createListFilesTool } from './tools/list-files.ts';
import { createReadFileTool } from './tools/read-file.ts';
import { createShellTool } from './tools/shell.ts';
import { createWebFetchTool } from './tools/web-fetch.ts';
import { createWebSearchTool, type WebSearchProvider } from './tools/web-search.ts';
import { createWebSearchProvider } from './tools/web-search-providers.ts';
import { createWriteFileTool } from './tools/write-file.ts';
import { createScheduleTool } from './tools/schedule.ts';
import type { Scheduler } from '@switchboard/scheduler';
import { createMemoryTools, type MemoryStore } from '@switchboard/memory';

const MIB = 1024 * 1024;

/** What a built-in tool may need to be created. */
export interface BuiltinToolEnv {
  config: ToolRunnerConfig;
  logger: Logger;
  workspaces: Workspaces;
  /** uid of the runner process (`process.getuid()`); decides whether the sandbox drops privileges. */
  processUid: number;
  /** The search backend; wins over the one WEB_SEARCH_PROVIDER configures. Without either `web_search` is unavailable. */
  webSearchProvider?: WebSearchProvider;
  /** Schedules in Redis; without it `schedule` is unavailable. */
  scheduler?: Scheduler;
  /** Long-term memory in Postgres; without it `remember`, `recall` and `forget` are unavailable. */
  memory?: MemoryStore;
}

/** `remember`, `recall`, `forget` (shared/memory): the requesting user's and session's memories only. */
const memoryTool = (name: 'remember' | 'recall' | 'forget'): BuiltinTool => ({
  name,
  create: async ({ memory, config }) =>
    memory ? createMemoryTools(memory, { agent: config.AGENT_NAME }).find((t) => t.name === name)! : { unavailable: 'no database is connected (DATABASE_URL) for long-term memory' },
});

/** A built-in tool: its name and how to build it, or why it cannot run on this host. */
export interface BuiltinTool {
  name: string;
  /**
   * 'high' for a tool that stays off unless TOOLS_ENABLED names it (the plugin it builds says the
   * same): without that it is not built at all, so shell's sandbox self-check (a bubblewrap run,
   * ~0.13 s of a start) runs only where shell may be used.
   */
  risk?: 'high';
  create(env: BuiltinToolEnv): Promise<ToolPlugin | { unavailable: string }>;
}

/**
 * Tools this runner ships with, by name. Configuration (TOOLS_ENABLED) decides which are
 * enabled; a tool that reports itself unavailable (shell without a working bubblewrap, web_search
 * without a provider) is left out with a log line, never run in a weaker form.
 */
export const BUILTIN_TOOLS: readonly BuiltinTool[] = [
  { name: 'echo', create: async () => echoTool as unknown as ToolPlugin },
  {
    name: 'shell',
    risk: 'high',
    async create({ config, logger, workspaces, processUid }) {
      const probe = await probeSandbox(
        {
          bwrapPath: config.BWRAP_PATH ?? 'bwrap',
          uid: config.SANDBOX_UID,
          gid: config.SANDBOX_GID,
          limits: {
            cpuSeconds: config.SHELL_CPU_SECONDS,
            memoryBytes: config.SHELL_MEMORY_MB * MIB,
            fileSizeBytes: config.SHELL_MAX_FILE_MB * MIB,
            processes: config.SHELL_MAX_PROCESSES,
            openFiles: config.SHELL_MAX_OPEN_FILES,
            tmpBytes: config.SHELL_TMP_MB * MIB,
          },
          etcEntries: [...new Set([...DEFAULT_SANDBOX_ETC, ...config.SHELL_ETC_PATHS])],
        },
        workspaces,
        processUid,
      );
      if (!probe.ok) return { unavailable: probe.reason };
      for (const note of probe.notes) logger.warn({ tool: 'shell' }, note);
      logger.info(
        { tool: 'shell', bwrap: probe.profile.bwrapPath, uid: probe.profile.uid, dropPrivileges: probe.profile.dropPrivileges, proc: probe.profile.procMode },
        'shell sandbox self-check passed',
      );
      return createShellTool({
        profile: probe.profile,
        maxTimeoutMs: config.SHELL_TIMEOUT_MS,
        // Both streams plus the exit-code lines fit in the output cap.
        keepBytes: Math.floor((config.TOOL_OUTPUT_MAX_BYTES - 256) / 2),
        killAfterOutputBytes: config.SHELL_MAX_OUTPUT_MB * MIB,
        quotaBytes: config.WORKSPACE_MAX_MB * MIB,
      });
    },
  },
  { name: 'read_file', create: async () => createReadFileTool() },
  { name: 'write_file', create: async ({ config }) => createWriteFileTool({ quotaBytes: config.WORKSPACE_MAX_MB * MIB }) },
  { name: 'edit_file', create: async ({ config }) => createEditFileTool({ quotaBytes: config.WORKSPACE_MAX_MB * MIB }) },
  { name: 'list_files', create: async () => createListFilesTool() },
  {
    name: 'web_fetch',
    create: async ({ config }) =>
      createWebFetchTool({ timeoutMs: config.WEB_FETCH_TIMEOUT_MS, maxBytes: config.WEB_FETCH_MAX_BYTES, maxOutputBytes: config.TOOL_OUTPUT_MAX_BYTES }),
  },
  {
    name: 'web_search',
    create: async ({ config, logger, webSearchProvider }) => {
      const provider = webSearchProvider ?? (config.webSearch ? createWebSearchProvider(config.webSearch) : undefined);
      if (!provider) return { unavailable: 'no web search provider is configured: set WEB_SEARCH_PROVIDER (brave, searxng or tavily) and its key or URL' };
      logger.info({ tool: 'web_search', provider: provider.name }, 'web_search uses the search provider');
      return createWebSearchTool(provider, { maxOutputBytes: config.TOOL_OUTPUT_MAX_BYTES });
    },
  },
  {
    name: 'http_request',
    risk: 'high',
    create: async ({ config }) =>
      config.HTTP_REQUEST_ALLOWED_HOSTS.length > 0
        ? createHttpRequestTool({
            allowedHosts: config.HTTP_REQUEST_ALLOWED_HOSTS,
            credentials: Object.fromEntries(Object.entries(config.HTTP_REQUEST_CREDENTIALS).map(([host, headers]) => [host.toLowerCase(), headers])),
            timeoutMs: config.WEB_FETCH_TIMEOUT_MS,
            maxOutputBytes: config.TOOL_OUTPUT_MAX_BYTES,
          })
        : { unavailable: 'HTTP_REQUEST_ALLOWED_HOSTS is not set' },
  },
  {
    name: 'schedule',
    create: async ({ scheduler }) => (scheduler ? createScheduleTool(scheduler) : { unavailable: 'no scheduler is connected' }),
  },
  memoryTool('remember'),
  memoryTool('recall'),
  memoryTool('forget'),
];

/** Whether `entry` stays off, not even built, under this config: TOOLS_ENABLED unset and the tool high-risk. */
function offByDefault(config: Pick<ToolRunnerConfig, 'TOOLS_ENABLED'>, entry: BuiltinTool): boolean {
  return !config.TOOLS_ENABLED && entry.risk === 'high';
}

/** The built-in high-risk tools left off (not even built) because TOOLS_ENABLED is unset. */
export function builtinsOffByDefault(config: Pick<ToolRunnerConfig, 'TOOLS_ENABLED'>, registry: readonly BuiltinTool[] = BUILTIN_TOOLS): string[] {
  return registry.filter((entry) => offByDefault(config, entry)).map((entry) => entry.name);
}

/**
 * Builds the enabled built-in tools for this host: those named in TOOLS_ENABLED (when it is
 * unset, all but the high-risk ones), minus any that are unavailable here — each of those is
 * logged with its reason, at error level when TOOLS_ENABLED asked for it explicitly.
 */
export async function loadBuiltinTools(env: BuiltinToolEnv, registry: readonly BuiltinTool[] = BUILTIN_TOOLS): Promise<ToolPlugin[]> {
  const wanted = env.config.TOOLS_ENABLED;
  const plugins: ToolPlugin[] = [];
  for (const entry of registry) {
    if ((wanted && !wanted.includes(entry.name)) || offByDefault(env.config, entry)) continue;
    const made = await entry.create(env);
    if ('unavailable' in made) {
      const log = { tool: entry.name, reason: made.unavailable };
      if (wanted) env.logger.error(log, `tool ${entry.name} is enabled in TOOLS_ENABLED but cannot run here; it stays disabled`);
      else env.logger.warn(log, `tool ${entry.name} is disabled: ${made.unavailable}`);
      continue;
    }
    plugins.push(made);
  }
  return plugins;
}
