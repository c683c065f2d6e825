import { createHash } from 'node:crypto';

/** Longest tool name the model may see (OpenAI's limit, and the ToolDefinition contract's). */
export const MAX_TOOL_NAME_LENGTH = 64;

/** The prefix of every tool of MCP server `server` (a name already sanitised by the config). */
export function mcpToolPrefix(server: string): string {
  return `mcp__${server}__`;
}

function hash6(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 6);
}

/** Result of {@link assignMcpToolNames}. */
export interface McpToolNaming {
  /** Original tool name -> the name the model sees. */
  names: Map<string, string>;
  /** Tools left out, with why (duplicate names from the server; a hash clash). */
  skipped: Array<{ tool: string; reason: string }>;
}

/**
 * Gives each tool of one server its model-facing name `mcp__<server>__<tool>`:
 *
 * - Characters outside `[A-Za-z0-9_-]` become `_` (`files.read` -> `files_read`).
 * - A name over 64 characters is cut and ends in `_` + the first 6 hex digits of the SHA-256 of
 *   the original tool name, so two long names that share a beginning stay apart.
 * - When several tools end up with the same name (`a.b` and `a_b`), a tool whose original name is
 *   that name keeps it and every other one gets the `_<hash>` ending. A name is thus a function of
 *   the server's tool list, stable across restarts and independent of the list's order.
 * - A tool the server lists twice, or one that still clashes (a hash collision), is skipped.
 */
export function assignMcpToolNames(server: string, tools: readonly string[]): McpToolNaming {
  const prefix = mcpToolPrefix(server);
  const room = MAX_TOOL_NAME_LENGTH - prefix.length;
  const skipped: McpToolNaming['skipped'] = [];
  const unique: string[] = [];
  const seenOriginal = new Set<string>();
  for (const tool of tools) {
    if (seenOriginal.has(tool)) {
      skipped.push({ tool, reason: 'the server lists this tool name more than once' });
      continue;
    }
    seenOriginal.add(tool);
    unique.push(tool);
  }
  const hashed = (tool: string, base: string) => `${base.slice(0, room - 7)}_${hash6(tool)}`;
  const clean = new Map<string, string>();
  const base = new Map<string, string>();
  for (const tool of unique) {
    const c = tool.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
    clean.set(tool, c);
    base.set(tool, c.length <= room ? c : hashed(tool, c));
  }
  const holders = new Map<string, string[]>();
  for (const tool of unique) {
    const b = base.get(tool)!;
    holders.set(b, [...(holders.get(b) ?? []), tool]);
  }
  const proposed = new Map<string, string>();
  for (const tool of unique) {
    const b = base.get(tool)!;
    const clash = holders.get(b)!.length > 1;
    proposed.set(tool, clash && tool !== b ? hashed(tool, clean.get(tool)!) : b);
  }
  const names = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const tool of unique) {
    const name = prefix + proposed.get(tool)!;
    const owner = taken.get(name);
    if (owner !== undefined) {
      skipped.push({ tool, reason: `its name ${name} clashes with tool "${owner}"` });
      continue;
    }
    taken.set(name, tool);
    names.set(tool, name);
  }
  return { names, skipped };
}
