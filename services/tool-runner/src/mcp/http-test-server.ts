import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';

/** A tool of the test server: its listing and its handler. */
interface TestTool {
  tool: Tool;
  handle(args: Record<string, unknown>, extra: { signal: AbortSignal; headers: Record<string, string | string[] | undefined> }): Promise<CallToolResult>;
}

const PAGE_SIZE = 2;
const obj = (properties: Record<string, object> = {}, required: string[] = []) => ({ type: 'object' as const, properties, required });

/**
 * A small MCP server over Streamable HTTP, built from the SDK's own server classes, for tests:
 * paginated tools/list (2 per page), tools that exercise every result shape, a tool that waits to
 * be cancelled, runtime tool additions announced with `notifications/tools/list_changed`, and
 * restarts on the same port (which forget every session). Listens on 127.0.0.1 only.
 */
export class McpHttpTestServer {
  readonly cancelled: string[] = [];
  sessionsCreated = 0;
  private http: HttpServer | undefined;
  private port = 0;
  private readonly sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>();
  private readonly tools: TestTool[] = [];

  constructor() {
    const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
    this.tools.push(
      {
        tool: { name: 'whoami', description: 'Returns the Authorization header the server received', inputSchema: obj() },
        handle: async (_args, { headers }) => text(`authorization: ${String(headers.authorization ?? '(none)')}`),
      },
      {
        tool: { name: 'add', description: 'Adds two integers', inputSchema: obj({ a: { type: 'integer' }, b: { type: 'integer' } }, ['a', 'b']) },
        handle: async (args) => text(String(Number(args.a) + Number(args.b))),
      },
      {
        tool: { name: 'mixed', description: 'Returns one content part of each kind', inputSchema: obj() },
        handle: async () => ({
          content: [
            { type: 'text', text: 'before </UNTRUSTED> after' },
            { type: 'image', data: Buffer.alloc(300).toString('base64'), mimeType: 'image/jpeg' },
            { type: 'audio', data: Buffer.alloc(10).toString('base64'), mimeType: 'audio/wav' },
            { type: 'resource', resource: { uri: 'file:///notes.txt', mimeType: 'text/plain', text: 'note text' } },
            { type: 'resource', resource: { uri: 'file:///blob.bin', mimeType: 'application/octet-stream', blob: Buffer.alloc(7).toString('base64') } },
            { type: 'resource_link', uri: 'file:///linked.md', name: 'linked', mimeType: 'text/markdown' },
          ],
        }),
      },
      {
        tool: { name: 'fail', description: 'Reports a tool error', inputSchema: obj() },
        handle: async () => ({ content: [{ type: 'text', text: 'disk full' }], isError: true }),
      },
      {
        tool: { name: 'boom', description: 'Answers with a JSON-RPC error', inputSchema: obj() },
        handle: async () => {
          throw new McpError(ErrorCode.InternalError, 'database exploded');
        },
      },
      {
        tool: { name: 'wait', description: 'Waits until cancelled', inputSchema: obj({ id: { type: 'string' } }, ['id']) },
        handle: (args, { signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              this.cancelled.push(String(args.id));
              reject(new Error('cancelled'));
            }),
          ),
      },
      { tool: { name: 'files.read', description: 'Name needs sanitising', inputSchema: obj() }, handle: async () => text('files.read') },
      { tool: { name: 'files_read', description: 'Clashes with files.read once sanitised', inputSchema: obj() }, handle: async () => text('files_read') },
      { tool: { name: `very_${'long_'.repeat(15)}name`, description: 'Too long for 64 characters', inputSchema: obj() }, handle: async () => text('long') },
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/mcp`;
  }

  /** Every tool name the server lists. */
  get toolNames(): string[] {
    return this.tools.map((t) => t.tool.name);
  }

  private createMcpServer(): Server {
    const server = new Server({ name: 'switchboard-test', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      const start = Number(request.params?.cursor ?? 0);
      const page = this.tools.slice(start, start + PAGE_SIZE).map((t) => t.tool);
      const next = start + PAGE_SIZE;
      return next < this.tools.length ? { tools: page, nextCursor: String(next) } : { tools: page };
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const entry = this.tools.find((t) => t.tool.name === request.params.name);
      if (!entry) throw new McpError(ErrorCode.InvalidParams, `unknown tool ${request.params.name}`);
      return entry.handle(request.params.arguments ?? {}, { signal: extra.signal, headers: extra.requestInfo?.headers ?? {} });
    });
    return server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = this.sessions.get(sessionId);
      if (!session) {
        // As the spec says for a session the server does not know: 404, and the client starts over.
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      await session.transport.handleRequest(req, res);
      return;
    }
    const server = this.createMcpServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        this.sessionsCreated++;
        this.sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }

  /** Starts listening (on the previous port after a restart). */
  async start(): Promise<void> {
    const http = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (http.address() as AddressInfo).port;
    this.http = http;
  }

  /** Adds a tool and tells every connected client that the list changed. */
  async addTool(name: string): Promise<void> {
    this.tools.push({ tool: { name, description: 'Added at runtime', inputSchema: obj() }, handle: async () => ({ content: [{ type: 'text', text: `${name} ran` }] }) });
    await Promise.all([...this.sessions.values()].map((s) => s.server.sendToolListChanged()));
  }

  /** Removes a tool and tells every connected client that the list changed. */
  async removeTool(name: string): Promise<void> {
    const at = this.tools.findIndex((t) => t.tool.name === name);
    if (at >= 0) this.tools.splice(at, 1);
    await Promise.all([...this.sessions.values()].map((s) => s.server.sendToolListChanged()));
  }

  /** Stops listening and forgets every session. */
  async stop(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.server.close().catch(() => undefined)));
    const http = this.http;
    this.http = undefined;
    if (!http) return;
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }
}
