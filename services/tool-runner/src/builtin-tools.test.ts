import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '@switchboard/observability';
import { builtinsOffByDefault, loadBuiltinTools } from './builtin-tools.ts';
import { loadToolRunnerConfig } from './config.ts';
import { createWorkspaces } from './sandbox/workspaces.ts';

const base = await mkdtemp(join(tmpdir(), 'sb-builtin-'));
afterAll(() => rm(base, { recursive: true, force: true }));

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
