import type { JsonSchemaType, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { toDefinition, type ToolPlugin } from '@switchboard/tools';
import { contentToText, wrapMcpOutput, type McpContentPart } from './content.ts';
import { setMcpDefinition } from './definitions.ts';
import { classifyMcpError, McpToolError } from './errors.ts';
import type { McpServerConnection } from './server-connection.ts';

/** Longest tool description handed to the model, in characters (OpenAI's limit). */
const MAX_DESCRIPTION_CHARS = 1024;


export { definitionOf, isMcpPlugin } from './definitions.ts';

/** The server's input schema made fit for the model: an object schema without `$schema`. */
export function normalizeInputSchema(inputSchema: Tool['inputSchema']): Record<string, unknown> {
  const schema: Record<string, unknown> = structuredClone(inputSchema as Record<string, unknown>);
  delete schema.$schema;
  schema.type = 'object';
  if (schema.properties === undefined) schema.properties = {};
  return schema;
}

function describe(server: string, tool: Tool): string {
  const text = tool.description?.trim() || tool.title?.trim() || tool.name;
  const full = `(MCP server ${server}) ${text}`;
  return full.length <= MAX_DESCRIPTION_CHARS ? full : `${full.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`;
}

/** What an MCP plugin needs besides the tool itself. */
export interface McpPluginOptions {
  /** The name the model sees (`mcp__<server>__<tool>`). */
  exposedName: string;
  /** Wall-time limit of a call in ms. */
  timeoutMs: number;
  /** Output size, wrapper included, in bytes. */
  maxOutputBytes: number;
  /** Compiles the input schema: one `mcpSchemaValidators()` per build of a server's tools. */
  validators: jsonSchemaValidator;
}

function stripRpcPrefix(message: string): string {
  // The SDK prefixes McpError messages, on the server's side and again on ours.
  return message.replace(/^(MCP error -?\d+: )+/, '');
}

/**
 * A `ToolPlugin` for one tool of one MCP server. Its `parameters` check arguments against the
 * server's JSON Schema (so a bad call fails as `bad_request` before it leaves the runner);
 * `execute` calls `tools/call` and returns the content as text wrapped as untrusted data; an
 * `isError` result or a protocol error throws an {@link McpToolError}.
 */
export function createMcpToolPlugin(connection: McpServerConnection, tool: Tool, opts: McpPluginOptions): ToolPlugin {
  const server = connection.config.name;
  const jsonSchema = normalizeInputSchema(tool.inputSchema);
  const validate = opts.validators.getValidator(jsonSchema as JsonSchemaType);
  const parameters = z
    .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { message: 'arguments must be a JSON object' })
    .superRefine((args, ctx) => {
      const result = validate(args);
      if (!result.valid) {
        // Ajv names the root "data": "data/a must be number" -> "/a must be number".
        const message = (result.errorMessage ?? 'do not match the schema').replace(/\bdata(\/\S*)? /g, (_m, path?: string) => (path ? `${path} ` : ''));
        ctx.addIssue({ code: 'custom', path: ['arguments'], message });
      }
    });
  const wrap = (text: string, room: number) => wrapMcpOutput(server, tool.name, text, room);

  const plugin: ToolPlugin<typeof parameters> = {
    name: opts.exposedName,
    description: describe(server, tool),
    parameters,
    risk: connection.config.risk,
    wrapsOwnOutput: true,
    timeoutMs: opts.timeoutMs,
    async execute(args, ctx) {
      let result;
      try {
        result = await connection.callTool(tool.name, args, { signal: ctx.signal, timeoutMs: opts.timeoutMs });
      } catch (err) {
        if ((err as { notConnected?: boolean }).notConnected) {
          const head = `MCP server ${server} is not connected; it is being reconnected, try again later`;
          // The last error may quote the server (an HTTP error's body): its text, so wrapped like the server's other text.
          const why = connection.lastError ? `\nLast error:\n${wrap(connection.lastError, opts.maxOutputBytes - Buffer.byteLength(head) - 13)}` : '';
          throw new McpToolError('remote_unreachable', head + why, { retryable: true });
        }
        const c = classifyMcpError(err, ctx.signal.aborted);
        if (c.code === 'bad_request' || c.code === 'remote_error') {
          const head = `MCP server ${server} rejected the call (JSON-RPC error ${c.rpcCode}):\n`;
          throw new McpToolError(c.code, head + wrap(stripRpcPrefix(c.detail), opts.maxOutputBytes - Buffer.byteLength(head)), { ...(c.rpcCode !== undefined ? { rpcCode: c.rpcCode } : {}), cause: err });
        }
        const text =
          c.code === 'timeout'
            ? `MCP server ${server} did not answer within ${opts.timeoutMs} ms`
            : c.code === 'cancelled'
              ? `the call to MCP server ${server} was cancelled`
              : `MCP server ${server} could not be reached; it is being reconnected, try again later`;
        throw new McpToolError(c.code, text, { retryable: c.retryable, cause: err });
      }
      const text = contentToText(result.content as McpContentPart[] | undefined, result.structuredContent);
      if (result.isError) {
        const head = 'The tool reported an error:\n';
        throw new McpToolError('tool_error', head + wrap(text, opts.maxOutputBytes - Buffer.byteLength(head)));
      }
      return wrap(text, opts.maxOutputBytes);
    },
  };
  const generic = plugin as unknown as ToolPlugin;
  // Every field as the plugin SDK derives it (so fields it gains later carry over), with the server's schema.
  const base = toDefinition({ ...generic, parameters: z.object({}) });
  setMcpDefinition(generic, { ...base, parameters: jsonSchema });
  return generic;
}
