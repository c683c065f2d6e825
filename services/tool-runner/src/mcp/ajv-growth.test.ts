/**
 * Before the fix: mcp-tool.ts compiles every MCP tool's input schema through ONE
 * module-level `AjvJsonSchemaValidator` (one Ajv for the whole tool-runner process), and
 * McpToolSource.rebuild() makes fresh plugins, with a fresh `structuredClone` of each schema, for
 * EVERY tool of a server each time the server reconnects (`onStateChanged(true)`) or announces
 * `tools/list_changed`. Ajv keeps every schema object it compiled (`ajv._cache`, a Map keyed by the
 * object, plus the generated code) and nothing ever removes one, so the runner's heap grows by one
 * compiled validator per tool per reconnect / list change, for as long as it runs: a flaky or
 * restarting MCP server (or one whose tool list changes often) grows it without bound.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { loadMcpServers } from './config.ts';
import { McpHttpTestServer } from './http-test-server.ts';
import { recordingLogger, waitFor } from './test-support.ts';
import { McpToolSource } from './tool-source.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('MCP tool source: compiled schemas do not accumulate', () => {
  it('does not keep a compiled validator per tool for every reconnect and list change', async () => {
    const getValidator = vi.spyOn(AjvJsonSchemaValidator.prototype, 'getValidator');
    cleanups.push(() => getValidator.mockRestore());
    const remote = new McpHttpTestServer();
    await remote.start();
    cleanups.push(() => remote.stop());
    const { logger } = recordingLogger();
    const source = await McpToolSource.start(
      { mcpServers: loadMcpServers({ serversJson: JSON.stringify({ remote: { type: 'http', url: remote.url } }) }), MCP_CONNECT_TIMEOUT_MS: 3_000, MCP_TOOL_TIMEOUT_MS: 10_000, MCP_PING_INTERVAL_MS: 100, TOOL_OUTPUT_MAX_BYTES: 16_384 },
      logger,
      { backoff: { initialMs: 50, maxMs: 200 } },
    );
    cleanups.push(() => source.close());
    const tools = source.plugins().length;
    expect(tools).toBeGreaterThan(5);
    // The module-level validator of mcp-tool.ts (the instance getValidator was called on).
    const shared = getValidator.mock.contexts.find((c) => c !== undefined) as unknown as { _ajv: { _cache: Map<unknown, unknown> } };
    const compiled = () => shared._ajv._cache.size;
    const afterStart = compiled();

    // The server restarts three times (same URL): each reconnect rebuilds every tool.
    for (let i = 0; i < 3; i++) {
      await remote.stop();
      await waitFor('tools withdrawn', () => source.plugins().length === 0 || undefined);
      await remote.start();
      await waitFor('tools back', () => source.plugins().length === tools || undefined);
    }
    // Ten list changes (a tool added, then removed): each rebuilds every tool as well.
    for (let i = 0; i < 5; i++) {
      await remote.addTool(`extra_${i}`);
      await waitFor('tool added', () => source.plugins().length === tools + 1 || undefined);
      await remote.removeTool(`extra_${i}`);
      await waitFor('tool removed', () => source.plugins().length === tools || undefined);
    }
    const grown = compiled() - afterStart;
    // Before the fix: ~(3 + 10) × tools more compiled schemas, while the same `tools` are offered.
    expect(grown, `${grown} more compiled schemas retained for the same ${tools} tools after 3 reconnects and 10 list changes`).toBeLessThanOrEqual(tools + 1);
  });
});
