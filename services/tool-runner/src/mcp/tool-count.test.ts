/**
 * Before the fix: Nothing bounds how many tools a server may
 * list (only the number of `tools/list` pages, 100, each up to a whole message): every listed tool
 * becomes a plugin with its input schema compiled by Ajv, synchronously, on the runner's one event
 * loop, at connect and again at every list change or reconnect. A server that lists 20 000 small
 * tools (a 2.4 MB answer) blocks the event loop for seconds each time (and can announce
 * `tools/list_changed` again and again): every other tool run, BullMQ's lock renewals (whose
 * failure fails the runner's active jobs as stalled) and the health endpoints wait. The model
 * cannot use that many tools anyway (providers take 128 per request).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadMcpServers } from './config.ts';
import { recordingLogger, startScriptedMcpServer } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('MCP tool source: a server that lists a flood of tools', () => {
  it('does not block the event loop for seconds on a server with 20 000 tools', async () => {
    const tools = Array.from({ length: 20_000 }, (_, i) => ({ name: `t${i}`, description: 'd', inputSchema: { type: 'object', properties: { a: { type: 'string', pattern: `^a${i}` } } } }));
    const server = await startScriptedMcpServer({ name: 'many', tools, other: (_res, reply) => reply({}) });
    cleanups.push(server.close);
    const { logger } = recordingLogger();
    let last = performance.now();
    let worstLagMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstLagMs = Math.max(worstLagMs, now - last);
      last = now;
    }, 10);
    cleanups.push(() => clearInterval(ticker));
    const source = await McpToolSource.start(
      {
        mcpServers: loadMcpServers({ serversJson: JSON.stringify({ many: { url: server.url } }) }),
        MCP_CONNECT_TIMEOUT_MS: 30_000,
        MCP_TOOL_TIMEOUT_MS: 5_000,
        MCP_PING_INTERVAL_MS: 0,
        TOOL_OUTPUT_MAX_BYTES: 16_384,
      },
      logger,
    );
    cleanups.push(() => source.close());
    await new Promise((r) => setTimeout(r, 50));
    expect(source.status()[0]!.state).toBe('connected');
    expect(source.plugins().length).toBeGreaterThan(0);
    expect(worstLagMs, `the event loop was blocked for ${Math.round(worstLagMs)} ms (${source.plugins().length} tools offered)`).toBeLessThan(1_000);
  }, 60_000);
});
