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
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMcpServers } from './config.ts';
import { recordingLogger } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('MCP tool source: a server that lists a flood of tools', () => {
  it('does not block the event loop for seconds on a server with 20 000 tools', async () => {
    const tools = Array.from({ length: 20_000 }, (_, i) => ({ name: `t${i}`, description: 'd', inputSchema: { type: 'object', properties: { a: { type: 'string', pattern: `^a${i}` } } } }));
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method: string; params?: { protocolVersion?: string } };
        if (msg.id === undefined) return void res.writeHead(202).end();
        const reply = (result: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
        if (msg.method === 'initialize') reply({ protocolVersion: msg.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'many', version: '1' } });
        else if (msg.method === 'tools/list') reply({ tools });
        else reply({});
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => void server.closeAllConnections());
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
        mcpServers: loadMcpServers({ serversJson: JSON.stringify({ many: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp` } }) }),
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
