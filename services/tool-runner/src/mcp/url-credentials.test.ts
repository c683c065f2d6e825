/**
 * Before the fix: The MCP configuration is validated so that no value
 * is ever echoed ("never a value, since env and headers hold secrets"), but an HTTP server's `url`
 * is accepted with credentials in it (`https://user:token@host/mcp`). fetch refuses such a URL,
 * with a message that quotes it whole ("Request cannot be constructed from a URL that includes
 * credentials: https://user:token@…"): the server can never be reached, and every attempt puts
 * the password into `lastError` and into the error log (start, then every retry).
 */
import { describe, expect, it } from 'vitest';
import { loadMcpServers } from './config.ts';
import { recordingLogger } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const SECRET = 's3cret-token-1234';
const serversJson = JSON.stringify({ remote: { url: `http://bot:${SECRET}@127.0.0.1:9/mcp` } });

describe('MCP config: credentials in an HTTP server URL', () => {
  it('never writes the URL’s password to the log', async () => {
    let servers;
    try {
      servers = loadMcpServers({ serversJson });
    } catch (err) {
      // Refused at start: fine, as long as the refusal does not quote the secret either.
      expect((err as Error).message).not.toContain(SECRET);
      expect((err as Error).message).toMatch(/remote.*url/);
      return;
    }
    const { logger, lines } = recordingLogger();
    const source = await McpToolSource.start(
      { mcpServers: servers, MCP_CONNECT_TIMEOUT_MS: 1_000, MCP_TOOL_TIMEOUT_MS: 1_000, MCP_PING_INTERVAL_MS: 0, TOOL_OUTPUT_MAX_BYTES: 4096 },
      logger,
      { backoff: { initialMs: 60_000, maxMs: 60_000 } },
    );
    await source.close();
    const leaked = lines.filter((l) => JSON.stringify(l).includes(SECRET));
    expect(leaked.map((l) => l.msg), 'log lines that carry the password').toEqual([]);
  });
});
