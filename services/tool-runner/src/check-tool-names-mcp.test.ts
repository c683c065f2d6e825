/**
 * Before the fix: checkToolNames exists so that a TOOLS_ASK
 * entry that names no tool stops the runner ("in TOOLS_ASK it lets the misspelt tool run without
 * the approval it was meant to need"). For MCP tools it accepts anything that starts with a
 * configured server's prefix, including names no MCP tool can ever have: the runner offers MCP
 * tools only as `mcp__<server>__<tool>` with `[A-Za-z0-9_-]` and at most 64 characters (a server
 * tool `read.file` is offered as `mcp__docs__read_file`). An operator who writes the server's own
 * tool name into TOOLS_ASK (`mcp__docs__read.file`) gets a runner that starts, and the tool then
 * runs without asking anyone, since the policy compares names exactly.
 */
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '@switchboard/policy';
import { loadToolRunnerConfig } from './config.ts';
import { assignMcpToolNames } from './mcp/names.ts';
import { checkToolNames } from './service.ts';

const KNOWN = ['echo', 'read_file'];
const config = (env: Record<string, string>) =>
  loadToolRunnerConfig({ ...env, MCP_SERVERS: JSON.stringify({ mcpServers: { docs: { command: 'node', args: ['server.js'] } } }) });

describe('checkToolNames: MCP entries no tool can match', () => {
  it('refuses a TOOLS_ASK entry with characters an offered MCP tool name never has', () => {
    // What happens with the entry: the tool is offered under another name, and runs without approval.
    const offered = assignMcpToolNames('docs', ['read.file']).names.get('read.file')!;
    expect(offered).toBe('mcp__docs__read_file');
    expect(new PolicyEngine({}, { ask: ['mcp__docs__read.file'] }).decide({ tool: offered }, {}).decision).toBe('allow');
    // So the runner must not start with it.
    expect(() => checkToolNames(config({ TOOLS_ASK: 'mcp__docs__read.file' }), KNOWN)).toThrow(/TOOLS_ASK names "mcp__docs__read\.file"/);
  });

  it('refuses an MCP entry longer than any offered tool name', () => {
    const long = `mcp__docs__${'x'.repeat(60)}`;
    const offered = assignMcpToolNames('docs', ['x'.repeat(60)]).names.get('x'.repeat(60))!;
    expect(offered.length).toBeLessThanOrEqual(64);
    expect(offered).not.toBe(long);
    expect(() => checkToolNames(config({ TOOLS_ASK: long }), KNOWN)).toThrow(/TOOLS_ASK names/);
  });

  it('still accepts names an MCP tool can have', () => {
    expect(() => checkToolNames(config({ TOOLS_ASK: 'mcp__docs__read_file,mcp__docs__a-b', TOOLS_ENABLED: 'echo,mcp__docs__x' }), KNOWN)).not.toThrow();
  });
});
