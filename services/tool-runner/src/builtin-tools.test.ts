import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '@switchboard/observability';
import { startFakeSearch } from '@switchboard/testkit';
import { builtinsOffByDefault, loadBuiltinTools } from './builtin-tools.ts';
import { loadToolRunnerConfig } from './config.ts';
import { runTool } from './run-tool.ts';
import { createWorkspaces } from './sandbox/workspaces.ts';

const base = await mkdtemp(join(tmpdir(), 'sb-builtin-'));
afterAll(() => rm(base, { recursive: true, force: true }));
const search = await startFakeSearch({ braveKey: 'BSA-wired-secret-0123456789' });
afterAll(() => search.close());

function recordingLogger() {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, msg, obj });
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
  return { logger, lines };
}

describe('loadBuiltinTools', () => {
  it('leaves shell out, with a clear error, when bubblewrap is missing — never unsandboxed', async () => {
    const config = loadToolRunnerConfig({ TOOL_WORKSPACES_DIR: join(base, 'ws1'), BWRAP_PATH: '/nonexistent/bwrap', TOOLS_ENABLED: 'shell,read_file' });
    const { logger, lines } = recordingLogger();
    const workspaces = createWorkspaces({ rootDir: config.workspacesDir, owner: undefined });
    const tools = await loadBuiltinTools({ config, logger, workspaces, processUid: process.getuid?.() ?? -1 });
    expect(tools.map((t) => t.name)).toEqual(['read_file']);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: expect.stringMatching(/shell is enabled in TOOLS_ENABLED but cannot run here/) }));
    expect(lines.find((l) => l.obj.tool === 'shell')?.obj.reason).toMatch(/bubblewrap not found \(\/nonexistent\/bwrap/);
  });

  it('offers web_search only with a provider, and everything but the high-risk tools by default', async () => {
    const config = loadToolRunnerConfig({ TOOL_WORKSPACES_DIR: join(base, 'ws2'), BWRAP_PATH: '/nonexistent/bwrap' });
    const { logger, lines } = recordingLogger();
    const workspaces = createWorkspaces({ rootDir: config.workspacesDir, owner: undefined });
    const without = await loadBuiltinTools({ config, logger, workspaces, processUid: 1000 });
    expect(without.map((t) => t.name)).toEqual(['echo', 'read_file', 'write_file', 'edit_file', 'list_files', 'web_fetch']);
    // shell and http_request are not even built: no sandbox self-check ran (it would have logged the missing bwrap).
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.obj.tool)).toEqual(['web_search', 'schedule', 'remember', 'recall', 'forget']);
    expect(lines.find((l) => l.obj.tool === 'web_search')?.obj.reason).toMatch(/set WEB_SEARCH_PROVIDER \(brave, searxng or tavily\)/);
    expect(builtinsOffByDefault(config)).toEqual(['shell', 'http_request']);
    const withProvider = await loadBuiltinTools({ config, logger, workspaces, processUid: 1000, webSearchProvider: { name: 'fake', search: async () => [] } });
    expect(withProvider.map((t) => t.name)).toContain('web_search');
    const hosts = { ...config, HTTP_REQUEST_ALLOWED_HOSTS: ['api.example.com'] };
    expect((await loadBuiltinTools({ config: hosts, logger, workspaces, processUid: 1000 })).map((t) => t.name)).not.toContain('http_request');
    const named = { ...hosts, TOOLS_ENABLED: ['echo', 'http_request'] };
    expect((await loadBuiltinTools({ config: named, logger, workspaces, processUid: 1000 })).map((t) => t.name)).toEqual(['echo', 'http_request']);
    expect(builtinsOffByDefault(named)).toEqual([]);
  });
});

describe('web_search from configuration', () => {
  const searchJob = { v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey: 's', platform: 'web', userId: 'u', tool: 'web_search', arguments: { query: 'switchboard' } };
  const braveEnv = { TOOL_WORKSPACES_DIR: join(base, 'ws3'), WEB_SEARCH_PROVIDER: 'brave', BRAVE_API_KEY: search.braveKey, BRAVE_API_URL: search.origin };

  it('offers web_search backed by the configured provider', async () => {
    search.hits = [{ title: 'Configured hit', url: 'https://hit.example/', snippet: 'switchboard found via config' }];
    const config = loadToolRunnerConfig(braveEnv);
    const { logger } = recordingLogger();
    const workspaces = createWorkspaces({ rootDir: config.workspacesDir, owner: undefined });
    const tools = await loadBuiltinTools({ config, logger, workspaces, processUid: 1000 });
    const webSearch = tools.find((t) => t.name === 'web_search');
    expect(webSearch).toBeDefined();
    const calls = search.calls.length;
    const result = await runTool(webSearch!, searchJob, { maxOutputBytes: 4096 });
    expect(result).toMatchObject({ ok: true, output: expect.stringContaining('1. Configured hit\n   https://hit.example/\n   switchboard found via config') });
    expect(search.calls.slice(calls).map((c) => c.headers['x-subscription-token'])).toEqual([search.braveKey]);
  });

  it('an explicit webSearchProvider wins over the configured one', async () => {
    const config = loadToolRunnerConfig(braveEnv);
    const { logger } = recordingLogger();
    const workspaces = createWorkspaces({ rootDir: config.workspacesDir, owner: undefined });
    const explicit = { name: 'explicit', search: async () => [{ title: 'From code', url: 'https://code.example/' }] };
    const tools = await loadBuiltinTools({ config, logger, workspaces, processUid: 1000, webSearchProvider: explicit });
    const calls = search.calls.length;
    const result = await runTool(tools.find((t) => t.name === 'web_search')!, searchJob, { maxOutputBytes: 4096 });
    expect(result.output).toContain('provider="explicit"');
    expect(search.calls.length).toBe(calls);
  });

  it('refuses a provider without its key or URL, naming the variable and never a value', () => {
    const secret = 'sk-unrelated-secret-value';
    for (const [provider, variable] of [['brave', 'BRAVE_API_KEY'], ['searxng', 'SEARXNG_URL'], ['tavily', 'TAVILY_API_KEY']] as const) {
      const err = (() => {
        try {
          loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: provider, BRAVE_API_KEY: provider === 'brave' ? '' : secret, TAVILY_API_KEY: provider === 'tavily' ? ' ' : secret });
        } catch (e) {
          return e as Error & { code?: string };
        }
        throw new Error(`${provider} without ${variable} was accepted`);
      })();
      expect(err.code).toBe('config_error');
      expect(err.message).toContain(`${variable}: is required when WEB_SEARCH_PROVIDER is ${provider}`);
      expect(err.message).not.toContain(secret);
    }
  });

  it('refuses an unknown provider and a bad URL without echoing it', () => {
    expect(() => loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'google' })).toThrow(/WEB_SEARCH_PROVIDER: .*"brave"\|"searxng"\|"tavily"/);
    const badUrl = 'ftp://ops:hunter2-secret@search.internal/';
    expect(() => loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'searxng', SEARXNG_URL: badUrl })).toThrow(/SEARXNG_URL: must be a https:\/\/ or http:\/\/ URL/);
    expect(() => loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'searxng', SEARXNG_URL: badUrl })).not.toThrow(/hunter2/);
    expect(() => loadToolRunnerConfig({ BRAVE_API_URL: 'not a url' })).toThrow(/BRAVE_API_URL/);
  });

  it('fills in defaults; unset or empty WEB_SEARCH_PROVIDER means no provider', () => {
    expect(loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'brave', BRAVE_API_KEY: 'k' }).webSearch).toEqual({ provider: 'brave', apiKey: 'k', baseUrl: 'https://api.search.brave.com' });
    expect(loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'tavily', TAVILY_API_KEY: 'k' }).webSearch).toEqual({ provider: 'tavily', apiKey: 'k', baseUrl: 'https://api.tavily.com' });
    expect(loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: 'searxng', SEARXNG_URL: 'http://searxng:8080' }).webSearch).toEqual({ provider: 'searxng', baseUrl: 'http://searxng:8080' });
    expect(loadToolRunnerConfig({ WEB_SEARCH_PROVIDER: '', BRAVE_API_KEY: 'k' }).webSearch).toBeUndefined();
    expect(loadToolRunnerConfig({}).webSearch).toBeUndefined();
  });
});

describe('tool-runner config', () => {
  it('puts workspaces under DATA_DIR by default and validates sandbox settings', () => {
    expect(loadToolRunnerConfig({ DATA_DIR: '/srv/data' }).workspacesDir).toBe('/srv/data/workspaces');
    expect(loadToolRunnerConfig({}).workspacesDir).toBe(join(process.cwd(), 'data', 'workspaces'));
    expect(loadToolRunnerConfig({ TOOL_WORKSPACES_DIR: '/w' }).workspacesDir).toBe('/w');
    expect(() => loadToolRunnerConfig({ SANDBOX_UID: '0' })).toThrow(/SANDBOX_UID/);
    expect(() => loadToolRunnerConfig({ SHELL_ETC_PATHS: 'ssl,../shadow' })).toThrow(/SHELL_ETC_PATHS/);
    expect(loadToolRunnerConfig({ SHELL_ETC_PATHS: 'ssl, python3' }).SHELL_ETC_PATHS).toEqual(['ssl', 'python3']);
  });
});
