import { describe, expect, it } from 'vitest';
import { loadToolRunnerConfig } from './config.ts';
import { createLogger, createRegistry } from '@switchboard/observability';
import { checkToolNames, createToolRunner } from './service.ts';

const KNOWN = ['echo', 'read_file', 'write_file', 'shell'];
const config = (env: Record<string, string>) =>
  loadToolRunnerConfig({ ...env, MCP_SERVERS: JSON.stringify({ mcpServers: { docs: { command: 'node', args: ['server.js'] } } }) });

describe('checkToolNames', () => {
  it('refuses a TOOLS_ASK or TOOLS_ENABLED entry that names no tool, so a typo cannot skip an approval', () => {
    expect(() => checkToolNames(config({ TOOLS_ASK: 'echo,wirte_file' }), KNOWN)).toThrow(/TOOLS_ASK names "wirte_file", which is no tool here \(tools: echo, read_file, shell, write_file; MCP: mcp__docs__<tool>\)/);
    expect(() => checkToolNames(config({ TOOLS_ENABLED: 'shel,read_fil' }), KNOWN)).toThrow(/TOOLS_ENABLED names "shel", "read_fil", which are no tool here/);
    expect(() => checkToolNames(config({ TOOLS_ASK: 'mcp__other__search' }), KNOWN)).toThrow(/mcp__other__search/);
    expect(() => checkToolNames(config({ TOOLS_ASK: 'mcp__docs__' }), KNOWN)).toThrow(/mcp__docs__/);
  });

  it('accepts the runner’s tools and any tool of a configured MCP server', () => {
    expect(() => checkToolNames(config({ TOOLS_ENABLED: 'echo,shell,mcp__docs__search', TOOLS_ASK: 'shell,mcp__docs__delete' }), KNOWN)).not.toThrow();
    expect(() => checkToolNames(config({}), KNOWN)).not.toThrow();
  });

  it('stops the runner before it starts anything', async () => {
    await expect(
      createToolRunner({ config: config({ TOOLS_ASK: 'wirte_file' }), logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: 'redis://127.0.0.1:1' }),
    ).rejects.toMatchObject({ code: 'config_error', message: expect.stringContaining('"wirte_file"') });
  });
});
