/**
 * Before the fix: over stdio a server may not write more than 64 MiB without ending a message (the connection is
 * dropped). Over Streamable HTTP nothing bounds what the SDK reads: the transport reads a JSON
 * answer with `response.json()` and an SSE answer event by event, on a body tied only to the
 * transport's own AbortController, never to the call. So
 *
 * 1. an answer that never ends keeps being read (and buffered) after the tool call has timed out
 *    and been reported to the model: the runner's memory grows for as long as the server writes;
 * 2. a huge answer delivered within the time limit is buffered whole before the output cap cuts it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runTool } from '../run-tool.ts';
import { loadMcpServers } from './config.ts';
import { recordingLogger, waitFor } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A minimal Streamable HTTP MCP server (JSON answers) whose one tool answers with `answer`. */
async function floodingServer(answer: (id: unknown, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method: string; params?: { protocolVersion?: string } };
      if (msg.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      const reply = (result: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'flood-session' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
      };
      if (msg.method === 'initialize') reply({ protocolVersion: msg.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'flood', version: '1' } });
      else if (msg.method === 'tools/list') reply({ tools: [{ name: 'flood', inputSchema: { type: 'object', properties: {} } }] });
      else if (msg.method === 'ping') reply({});
      else if (msg.method === 'tools/call') answer(msg.id, res);
      else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'no' } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => void server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

async function startSource(url: string) {
  const { logger } = recordingLogger();
  const source = await McpToolSource.start(
    {
      mcpServers: loadMcpServers({ serversJson: JSON.stringify({ flood: { url, timeoutMs: 1_000 } }) }),
      MCP_CONNECT_TIMEOUT_MS: 3_000,
      MCP_TOOL_TIMEOUT_MS: 1_000,
      MCP_PING_INTERVAL_MS: 0,
      TOOL_OUTPUT_MAX_BYTES: 16_384,
    },
    logger,
    { backoff: { initialMs: 50, maxMs: 200 } },
  );
  cleanups.push(() => source.close());
  const plugin = await waitFor('the flood tool', () => source.plugins().find((p) => p.name === 'mcp__flood__flood'));
  const job = { v: 1 as const, turnId: 't', toolCallId: 'c', sessionKey: 'web:local:s', platform: 'web', userId: 'u', tool: plugin.name, arguments: {} };
  return { run: () => runTool(plugin, job, { maxOutputBytes: 16_384 }) };
}

describe('MCP over Streamable HTTP: how much of an answer is read', () => {
  it('stops reading an answer that never ends once the call has timed out', async () => {
    let written = 0;
    let closed = false;
    const { url } = await floodingServer((id, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"content":[{"type":"text","text":"`);
      const chunk = 'A'.repeat(64 * 1024);
      const timer = setInterval(() => {
        if (res.destroyed || res.writableEnded) return;
        res.write(chunk);
        written += chunk.length;
      }, 5);
      res.on('close', () => {
        closed = true;
        clearInterval(timer);
      });
      cleanups.push(() => clearInterval(timer));
    });
    const { run } = await startSource(url);
    const result = await run();
    expect(result.ok).toBe(false);
    expect(result.errorCode).toBe('timeout');
    const atResult = written;
    // Cut off at the server's call time limit plus a second at the latest; give it some room.
    await new Promise((r) => setTimeout(r, 3_000));
    // Before the fix the runner keeps reading (and buffering for response.json()) forever.
    expect(closed, `the runner read ${((written - atResult) / 1024 / 1024).toFixed(1)} MiB more of the answer after the call had ended`).toBe(true);
  });

  it('refuses an answer larger than one message may be, rather than buffering it whole', async () => {
    const size = 80 * 1024 * 1024;
    const { url } = await floodingServer((id, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = 'B'.repeat(size);
      res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } }));
    });
    const { run } = await startSource(url);
    const result = await run();
    // 80 MiB is over the 64 MiB a stdio server may send in one message: refused, not read whole.
    expect(result.ok, `an ${size / 1024 / 1024} MiB answer was read whole (output ${result.output.length} chars)`).toBe(false);
  });
});
