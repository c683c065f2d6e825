/**
 * Before the fix: the commit gave an input schema with an `$id` a validator of its own (the SDK's
 * AjvJsonSchemaValidator reuses whatever it compiled first under an `$id`), but left the same flaw
 * in the SDK Client's check of tool OUTPUT: the Client compiles every listed tool's
 * `outputSchema` in one AjvJsonSchemaValidator per connection. A second tool whose output schema
 * has the `$id` of the first one's (generators give every schema of a server the same one) is
 * checked against the FIRST tool's schema, so its valid results are refused ("Structured content
 * does not match the tool's output schema"); and a tool whose output schema changed (list_changed)
 * under the same `$id` stays checked against the old one. Likewise an output schema Ajv cannot
 * compile threw out of the Client's `tools/list`: the whole server could not be connected, where
 * an input schema that does not compile only leaves that tool's arguments unchecked.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMcpServers } from './config.ts';
import { McpServerConnection } from './server-connection.ts';
import { recordingLogger } from './test-support.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const outputSchema = (property: string, type: string) => ({ $id: 'urn:example:output', type: 'object', properties: { [property]: { type } }, required: [property] });

async function serve(tools: () => unknown[], results: Record<string, unknown>): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method: string; params?: { protocolVersion?: string; name?: string } };
      if (msg.id === undefined) return void res.writeHead(202).end();
      const reply = (result: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
      if (msg.method === 'initialize') reply({ protocolVersion: msg.params?.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'out', version: '1' } });
      else if (msg.method === 'tools/list') reply({ tools: tools() });
      else if (msg.method === 'tools/call') {
        const structured = results[msg.params!.name!];
        reply({ content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured });
      } else reply({});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => void server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

async function connect(url: string): Promise<McpServerConnection> {
  const [config] = loadMcpServers({ serversJson: JSON.stringify({ out: { url } }) });
  const connection = new McpServerConnection(config!, {
    logger: recordingLogger().logger,
    connectTimeoutMs: 5_000,
    pingIntervalMs: 0,
    backoff: { initialMs: 100, maxMs: 1_000 },
    onToolsChanged: () => undefined,
  });
  cleanups.push(() => connection.close());
  expect(await connection.start()).toBe(true);
  return connection;
}

const call = (c: McpServerConnection, name: string) => c.callTool(name, {}, { signal: new AbortController().signal, timeoutMs: 5_000 });

describe('MCP output schemas that share an $id', () => {
  it('checks each tool’s structured result against its own output schema', async () => {
    const url = await serve(
      () => [
        { name: 'count', inputSchema: { type: 'object' }, outputSchema: outputSchema('n', 'number') },
        { name: 'title', inputSchema: { type: 'object' }, outputSchema: outputSchema('title', 'string') },
      ],
      { count: { n: 3 }, title: { title: 'hello' } },
    );
    const connection = await connect(url);
    expect((await call(connection, 'count')).structuredContent).toEqual({ n: 3 });
    expect((await call(connection, 'title')).structuredContent).toEqual({ title: 'hello' });
  });

  it('connects to a server one of whose output schemas Ajv cannot compile (as it does when an input schema cannot be)', async () => {
    const url = await serve(
      () => [
        { name: 'count', inputSchema: { type: 'object' }, outputSchema: outputSchema('n', 'number') },
        { name: 'odd', inputSchema: { type: 'object' }, outputSchema: { type: 'object', properties: { s: { type: 'string', pattern: '[' } } } },
      ],
      { count: { n: 3 }, odd: { s: 'x' } },
    );
    const connection = await connect(url);
    expect(connection.tools.map((t) => t.name)).toEqual(['count', 'odd']);
    expect((await call(connection, 'odd')).structuredContent).toEqual({ s: 'x' });
  });
});
