import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolPlugin } from '@switchboard/tools';
import { runTool } from '../run-tool.ts';
import { loadMcpServers } from './config.ts';
import { McpHttpTestServer } from './http-test-server.ts';
import { definitionOf } from './mcp-tool.ts';
import { recordingLogger, unwrap, waitFor } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const SECRET_TOKEN = 'Bearer sk-test-9f8e7d6c5b4a';
const remote = new McpHttpTestServer();
let silent: Server;
let source: McpToolSource;
const { logger, lines } = recordingLogger();
const changes: string[][] = [];

const job = (tool: string, args: Record<string, unknown>) => ({
  v: 1 as const,
  turnId: 't1',
  toolCallId: 'c1',
  sessionKey: 'web:local:s',
  platform: 'web',
  userId: 'u',
  tool,
  arguments: args,
});

function plugin(name: string): ToolPlugin {
  const found = source.plugins().find((p) => p.name === name);
  if (!found) throw new Error(`no plugin ${name}; have ${source.plugins().map((p) => p.name).join(', ')}`);
  return found;
}

const run = (name: string, args: Record<string, unknown> = {}) => runTool(plugin(name), job(name, args), { maxOutputBytes: 16_384 });

beforeAll(async () => {
  await remote.start();
  // Accepts connections and never answers: only the connect timeout ends the attempt.
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const servers = loadMcpServers({
    serversJson: JSON.stringify({
      remote: { type: 'http', url: remote.url, headers: { Authorization: SECRET_TOKEN }, timeoutMs: 1_000 },
      silent: { url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp` },
    }),
  });
  const started = Date.now();
  source = await McpToolSource.start(
    { mcpServers: servers, MCP_CONNECT_TIMEOUT_MS: 3_000, MCP_TOOL_TIMEOUT_MS: 60_000, MCP_PING_INTERVAL_MS: 100, TOOL_OUTPUT_MAX_BYTES: 16_384 },
    logger,
    { backoff: { initialMs: 50, maxMs: 200 } },
  );
  // The silent server costs one connect timeout (3 s, roomy for a loaded machine), not more.
  expect(Date.now() - started).toBeLessThan(6_000);
  source.onChange((plugins) => changes.push(plugins.map((p) => p.name)));
});

afterAll(async () => {
  await source?.close();
  await remote.stop();
  silent?.closeAllConnections();
  await new Promise((r) => silent?.close(r));
});

describe('McpToolSource over Streamable HTTP', () => {
  it('lists every page of tools and gives them valid, unique names', () => {
    const names = source.plugins().map((p) => p.name);
    expect(names).toHaveLength(remote.toolNames.length);
    expect(names).toEqual(expect.arrayContaining(['mcp__remote__whoami', 'mcp__remote__add', 'mcp__remote__wait', 'mcp__remote__files_read']));
    // "files_read" keeps its name; "files.read" would collide once sanitised and gets a hash ending.
    expect(names).toContainEqual(expect.stringMatching(/^mcp__remote__files_read_[0-9a-f]{6}$/));
    const long = names.find((n) => n.startsWith('mcp__remote__very_'))!;
    expect(long).toMatch(/^mcp__remote__very_long_long_.*_[0-9a-f]{6}$/);
    expect(long).toHaveLength(64);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n))).toBe(true);
    expect(definitionOf(plugin('mcp__remote__add'))).toMatchObject({ risk: 'medium', timeoutMs: 1_000, parameters: { type: 'object', required: ['a', 'b'] } });
  });

  it('calls the renamed tools by their original names', async () => {
    const dotted = source.plugins().find((p) => /^mcp__remote__files_read_[0-9a-f]{6}$/.test(p.name))!;
    expect(unwrap((await runTool(dotted, job(dotted.name, {}), { maxOutputBytes: 16_384 })).output)).toBe('files.read');
    expect(unwrap((await run('mcp__remote__files_read')).output)).toBe('files_read');
  });

  it('sends the configured headers, and never logs them', async () => {
    expect(unwrap((await run('mcp__remote__whoami')).output)).toBe(`authorization: ${SECRET_TOKEN}`);
    expect(JSON.stringify(lines)).not.toContain('sk-test-9f8e7d6c5b4a');
  });

  it('calls a tool with arguments and checks them against the server schema first', async () => {
    expect(unwrap((await run('mcp__remote__add', { a: 20, b: 22 })).output)).toBe('42');
    expect(await run('mcp__remote__add', { a: 1.5, b: 2 })).toMatchObject({ ok: false, errorCode: 'bad_request', output: expect.stringMatching(/\/a must be integer/) });
  });

  it('converts every content kind to text inside one untrusted wrapper', async () => {
    const result = await run('mcp__remote__mixed');
    expect(result.output.match(/<\/untrusted>/gi)).toHaveLength(1);
    expect(unwrap(result.output)).toBe(
      [
        'before &lt;/untrusted> after',
        '[image: image/jpeg, 300 bytes, not shown]',
        '[audio: audio/wav, 10 bytes, not shown]',
        '[resource file:///notes.txt (text/plain)]\nnote text',
        '[resource file:///blob.bin: application/octet-stream, 7 bytes, not shown]',
        '[resource link: file:///linked.md "linked" (text/markdown)]',
      ].join('\n'),
    );
  });

  it('maps isError results and JSON-RPC errors to failed runs', async () => {
    const failed = await run('mcp__remote__fail');
    expect(failed).toMatchObject({ ok: false, errorCode: 'tool_error' });
    expect(unwrap(failed.output)).toBe('disk full');
    const boom = await run('mcp__remote__boom');
    expect(boom).toMatchObject({ ok: false, errorCode: 'remote_error' });
    expect(boom.output).toMatch(/^MCP server remote rejected the call \(JSON-RPC error -32603\):\n/);
    expect(unwrap(boom.output)).toBe('database exploded');
  });

  it('cancels the call on the server when the run times out', async () => {
    const result = await run('mcp__remote__wait', { id: 'w1' });
    expect(result).toMatchObject({ ok: false, errorCode: 'timeout' });
    await waitFor('the server to see the cancellation', () => remote.cancelled.includes('w1'));
  });

  it('skips a server that does not answer within the connect timeout', () => {
    const status = source.status().find((s) => s.server === 'silent');
    expect(status?.state).not.toBe('connected');
    expect(status?.lastError).toMatch(/timed out|no answer within 3000 ms/i);
    expect(lines).toContainEqual(expect.objectContaining({ mcpServer: 'silent', target: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), msg: expect.stringMatching(/could not be connected/) }));
  });

  it('refreshes the tools on notifications/tools/list_changed', async () => {
    const before = changes.length;
    await remote.addTool('late_arrival');
    const latest = await waitFor('a tool change', () => (changes.length > before ? changes.at(-1) : undefined));
    expect(latest).toContain('mcp__remote__late_arrival');
    expect(unwrap((await run('mcp__remote__late_arrival')).output)).toBe('late_arrival ran');
  });

  it('stops offering a tool the server drops', async () => {
    await remote.addTool('short_lived');
    await waitFor('the tool offered', () => source.plugins().some((p) => p.name === 'mcp__remote__short_lived'));
    const before = changes.length;
    await remote.removeTool('short_lived');
    const latest = await waitFor('a tool change', () => (changes.length > before ? changes.at(-1) : undefined));
    expect(latest).not.toContain('mcp__remote__short_lived');
    expect(latest).toContain('mcp__remote__add');
    expect(source.plugins().map((p) => p.name)).not.toContain('mcp__remote__short_lived');
  });

  it('reconnects with a new session after the server restarts', async () => {
    const sessionsBefore = remote.sessionsCreated;
    await remote.stop();
    await remote.start();
    // The health ping finds the session gone (404) and the connection starts over.
    await waitFor('a new session', () => remote.sessionsCreated > sessionsBefore && source.status().find((s) => s.server === 'remote')?.state === 'connected');
    expect(lines).toContainEqual(expect.objectContaining({ mcpServer: 'remote', msg: expect.stringMatching(/connection lost; reconnecting/) }));
    expect(unwrap((await run('mcp__remote__add', { a: 1, b: 2 })).output)).toBe('3');
  });
});
