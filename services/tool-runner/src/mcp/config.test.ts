import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadToolRunnerConfig } from '../config.ts';
import { loadMcpServers, sanitizeServerName } from './config.ts';

const dir = await mkdtemp(join(tmpdir(), 'sb-mcp-config-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const SECRET = 'sk-live-DO-NOT-PRINT';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('loadMcpServers', () => {
  it('reads the common mcpServers shape from a file and the variable, stdio and Streamable HTTP', async () => {
    const file = join(dir, 'mcp.json');
    await writeFile(
      file,
      JSON.stringify({
        globalShortcut: 'ignored: other clients keep more settings in this file',
        mcpServers: {
          files: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'], env: { LOG: '1' }, cwd: '/tmp' },
          old: { command: 'x', disabled: true },
        },
      }),
    );
    const servers = loadMcpServers({
      configFile: file,
      serversJson: JSON.stringify({ 'github.com': { url: 'https://mcp.example.com/mcp', headers: { Authorization: `Bearer ${SECRET}` }, risk: 'high', timeoutMs: 5000 } }),
      path: '/usr/bin:/bin',
    });
    expect(servers).toEqual([
      { transport: 'stdio', name: 'files', configName: 'files', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'], env: { PATH: '/usr/bin:/bin', LOG: '1' }, cwd: '/tmp', risk: 'medium' },
      { transport: 'http', name: 'github_com', configName: 'github.com', url: 'https://mcp.example.com/mcp', headers: { Authorization: `Bearer ${SECRET}` }, risk: 'high', timeoutMs: 5000 },
    ]);
    // The variable may also wrap the map; a server's own PATH wins over the runner's.
    expect(loadMcpServers({ serversJson: '{"mcpServers":{"a":{"type":"stdio","command":"a","env":{"PATH":"/opt/a"}}}}', path: '/usr/bin' })[0]).toMatchObject({ env: { PATH: '/opt/a' } });
    expect(loadMcpServers({})).toEqual([]);
  });

  it('rejects a server of unknown kind, naming the server', () => {
    expect(() => loadMcpServers({ serversJson: '{"weird":{"socket":"/run/mcp.sock"}}' })).toThrow(/MCP_SERVERS server "weird": must have "command" \(stdio\) or "url" \(Streamable HTTP\)/);
    expect(() => loadMcpServers({ serversJson: '{"ws":{"type":"websocket","url":"ws://x"}}' })).toThrow(/server "ws": field "type": must be "stdio" or "http"/);
    expect(() => loadMcpServers({ serversJson: '{"legacy":{"type":"sse","url":"http://x/sse"}}' })).toThrow(/server "legacy".*SSE transport is not supported/);
    expect(() => loadMcpServers({ serversJson: '{"both":{"command":"x","url":"http://x"}}' })).toThrow(/server "both": has both "command" and "url"/);
    expect(() => loadMcpServers({ serversJson: '{"list":[1]}' })).toThrow(/server "list": must be an object/);
  });

  it('names the server and field of every problem, never a value', () => {
    const err = errorOf(() =>
      loadMcpServers({
        serversJson: JSON.stringify({
          a: { comand: 'typo', command: 'x' },
          b: { url: `ftp://host/?token=${SECRET}` },
          c: { command: 'x', env: { API_KEY: 42 } },
          f: { command: 'x', env: { 'BAD NAME': SECRET } },
          d: { url: 'https://x', headers: { Authorization: `Bearer ${SECRET}\r\nX-Evil: 1` } },
          e: { command: 'x', risk: 'extreme', timeoutMs: 5 },
        }),
      }),
    );
    expect(err).toMatchObject({ code: 'config_error' });
    expect(err.message).toMatch(/server "a": entry: Unrecognized key: "comand"/);
    expect(err.message).toMatch(/server "b": field "url": must be an absolute http:\/\/ or https:\/\/ URL/);
    expect(err.message).toMatch(/server "c": field "env\.API_KEY": .*expected string/);
    expect(err.message).toMatch(/server "f": field "env\.BAD NAME": variable names must match/);
    expect(err.message).toMatch(/server "d": field "headers\.Authorization": header values must not contain line breaks/);
    expect(err.message).toMatch(/server "e": field "risk"/);
    expect(err.message).toMatch(/server "e": field "timeoutMs"/);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('42');
  });

  it('does not echo broken JSON, which may hold secrets', () => {
    const err = errorOf(() => loadMcpServers({ serversJson: `{"a":{"url":"https://x","headers":{"Authorization":"${SECRET}"}` }));
    expect(err.message).toMatch(/^invalid MCP configuration: MCP_SERVERS: is not valid JSON/);
    expect(err.message).not.toContain(SECRET);
  });

  it('reports a missing or malformed config file', async () => {
    expect(() => loadMcpServers({ configFile: join(dir, 'missing.json') })).toThrow(/MCP_CONFIG_FILE: cannot read .*missing\.json \(ENOENT\)/);
    const bare = join(dir, 'bare.json');
    await writeFile(bare, '{"files":{"command":"x"}}');
    expect(() => loadMcpServers({ configFile: bare })).toThrow(/MCP_CONFIG_FILE: must have an "mcpServers" object/);
  });

  it('sanitises server names and refuses names that would clash or not fit', () => {
    expect(sanitizeServerName('my server.v2')).toBe('my_server_v2');
    expect(sanitizeServerName('a__b')).toBe('a_b');
    expect(sanitizeServerName('__x__')).toBe('x');
    expect(() => loadMcpServers({ serversJson: '{"my.server":{"command":"a"},"my_server":{"command":"b"}}' })).toThrow(/server "my_server": its name clashes with MCP_SERVERS server "my.server"/);
    expect(() => loadMcpServers({ serversJson: '{"...":{"command":"a"}}' })).toThrow(/server "\.\.\.": the name must contain a letter or digit/);
    expect(() => loadMcpServers({ serversJson: `{"${'x'.repeat(25)}":{"command":"a"}}` })).toThrow(/at most 24 characters/);
  });
});

describe('tool-runner config with MCP servers', () => {
  it('parses MCP_SERVERS at start-up and refuses to start with a bad one', () => {
    const config = loadToolRunnerConfig({ MCP_SERVERS: '{"everything":{"command":"npx","args":["-y","@modelcontextprotocol/server-everything"]}}', PATH: '/usr/bin' });
    expect(config.mcpServers).toMatchObject([{ name: 'everything', transport: 'stdio', env: { PATH: '/usr/bin' } }]);
    expect(config).toMatchObject({ MCP_CONNECT_TIMEOUT_MS: 10_000, MCP_TOOL_TIMEOUT_MS: 60_000, MCP_PING_INTERVAL_MS: 30_000 });
    expect(loadToolRunnerConfig({}).mcpServers).toEqual([]);
    expect(() => loadToolRunnerConfig({ MCP_SERVERS: '{"everything":{"args":[]}}' })).toThrow(/invalid MCP configuration: MCP_SERVERS server "everything"/);
    expect(() => loadToolRunnerConfig({ MCP_CONNECT_TIMEOUT_MS: '0' })).toThrow(/MCP_CONNECT_TIMEOUT_MS/);
  });
});
