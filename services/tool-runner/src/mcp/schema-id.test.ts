/**
 * Before the fix: MCP tools' arguments are checked
 * in the runner against the server's `inputSchema` through ONE process-wide
 * `AjvJsonSchemaValidator`, whose `getValidator` reuses the compiled schema registered under a
 * schema's `$id` when there is one. So every tool (of any server) whose inputSchema carries an
 * `$id` another tool's schema carried first is validated against that OTHER schema: its real
 * constraints are never checked (and valid calls are refused). Likewise a server that changes a
 * tool's schema but keeps its `$id` goes on being checked against the old one.
 */
import { describe, expect, it } from 'vitest';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { createMcpToolPlugin } from './mcp-tool.ts';
import { mcpSchemaValidators } from './schema-validators.ts';
import type { McpServerConnection } from './server-connection.ts';

const connection = (name: string) =>
  ({ config: { name, risk: 'medium' }, callTool: async () => ({ content: [{ type: 'text', text: 'ok' }] }) }) as unknown as McpServerConnection;

/** One validator for all, as the tools of one server's build share one. */
const validators = mcpSchemaValidators();
const plugin = (server: string, tool: Tool) => createMcpToolPlugin(connection(server), tool, { exposedName: `mcp__${server}__${tool.name}`, timeoutMs: 1_000, maxOutputBytes: 4096, validators });

describe('MCP argument checks: schemas that share an $id', () => {
  it('checks each tool against its own schema even when another tool used the same $id', () => {
    const first = plugin('alpha', {
      name: 'first',
      inputSchema: { $id: 'urn:schema:args', type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false } as Tool['inputSchema'],
    });
    const second = plugin('beta', {
      name: 'delete_path',
      inputSchema: {
        $id: 'urn:schema:args',
        type: 'object',
        properties: { path: { type: 'string', pattern: '^/srv/scratch/' } },
        required: ['path'],
        additionalProperties: false,
      } as Tool['inputSchema'],
    });
    expect(first.parameters.safeParse({ a: 1 }).success).toBe(true);
    // The second tool's own constraint: only paths under /srv/scratch/.
    expect(second.parameters.safeParse({ path: '/srv/scratch/x' }).success, 'a valid call refused').toBe(true);
    expect(second.parameters.safeParse({ path: '/etc/passwd' }).success, 'a call outside the pattern accepted').toBe(false);
  });

  it('checks a tool against its new schema after the server changed it under the same $id', () => {
    const schema = (max: number) =>
      ({ $id: 'urn:schema:limit', type: 'object', properties: { n: { type: 'integer', maximum: max } }, required: ['n'] }) as Tool['inputSchema'];
    plugin('gamma', { name: 'take', inputSchema: schema(1000) });
    const changed = plugin('gamma', { name: 'take', inputSchema: schema(10) });
    expect(changed.parameters.safeParse({ n: 500 }).success, 'checked against the old schema').toBe(false);
  });
});
