import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolPlugin } from '@switchboard/tools';
import { publicAddressesOnly } from '../../services/tool-runner/src/tools/net/ip-policy.ts';
import { createWebFetchTool } from '../../services/tool-runner/src/tools/web-fetch.ts';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/*
 * The escape attempts of the tool tests, this time driven through the HTTP API: the fake model asks
 * for the tool call, the real agent worker validates and dispatches it, the real tool-runner runs
 * it in its sandbox, and the model's next request shows what came back.
 */
const CANARY = 'canary-secret-4f1e9a';
let t: TestSystem;
let dataDir: string;
let bait: Server;
let baitHits = 0;
let baitPort = 0;
/** A "public site" that redirects wherever it is told: web_fetch_site trusts it and nothing else. */
let site: Server;
let sitePort = 0;

beforeAll(async () => {
  bait = createServer((_req, res) => {
    baitHits += 1;
    res.end('you reached the host');
  });
  await new Promise<void>((r) => bait.listen(0, '127.0.0.1', r));
  baitPort = (bait.address() as AddressInfo).port;
  site = createServer((req, res) => {
    const to = new URL(req.url ?? '/', 'http://site').searchParams.get('to');
    if (to) return void res.writeHead(302, { location: to }).end();
    res.end('<html><title>Site</title><body>public page</body></html>');
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  sitePort = (site.address() as AddressInfo).port;
  // The real web_fetch, configured to treat the site (and only it) as public: every redirect hop is checked.
  const webFetchSite = {
    ...createWebFetchTool({ policy: (address, port) => (address === '127.0.0.1' && port === sitePort ? { allowed: true, category: 'loopback' } : publicAddressesOnly(address, port)), timeoutMs: 3000 }),
    name: 'web_fetch_site',
  } as ToolPlugin;
  // The sandbox runs as an unprivileged uid: the data dir must be traversable (mkdtemp makes it 0700).
  dataDir = await mkdtemp(join(tmpdir(), 'sb-sandbox-'));
  await chmod(dataDir, 0o711);
  process.env.SWITCHBOARD_TEST_CANARY = CANARY;
  t = await startTestSystem({ dataDir, keepData: true, toolPlugins: [webFetchSite], env: { TOOLS_ENABLED: 'shell,read_file,write_file,edit_file,web_fetch,web_fetch_site', WORKSPACE_MAX_MB: '1', SWITCHBOARD_TEST_CANARY: CANARY } });
  // Each user message names one tool call; the model then reports the tool's output verbatim.
  t.model.setScript((body) => {
    // Only this turn's tool result counts: a session used for several calls keeps the earlier ones.
    const lastUser = body.messages.map((m) => m.role).lastIndexOf('user');
    const tool = body.messages.slice(lastUser).filter((m) => m.role === 'tool').pop();
    if (tool) return { text: String(tool.content) };
    const ask = JSON.parse(String(body.messages[body.messages.length - 1]!.content)) as { name: string; arguments: Record<string, unknown> };
    return { toolCalls: [{ id: 'c1', name: ask.name, arguments: ask.arguments }] };
  });
});
afterAll(async () => {
  delete process.env.SWITCHBOARD_TEST_CANARY;
  await t?.stop();
  await new Promise((r) => bait?.close(r));
  await new Promise((r) => site?.close(r));
  await rm(dataDir, { recursive: true, force: true });
});

let n = 0;
async function callTool(name: string, args: Record<string, unknown>, session = `sandbox${++n}`): Promise<string> {
  const res = await postJson(t.url, '/v1/chat/completions', { messages: [{ role: 'user', content: JSON.stringify({ name, arguments: args }) }] }, { 'x-session-id': session });
  expect(res.status).toBe(200);
  return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
}

describe('sandbox escapes through the HTTP API', () => {
  it('the shell sees neither the service environment nor the host', async () => {
    const out = await callTool('shell', { command: 'env; cat /proc/1/environ 2>&1; ls /work /root 2>&1; cat /etc/shadow 2>&1; echo done' });
    expect(out).toContain('done');
    expect(out).not.toContain(CANARY);
    expect(out).not.toMatch(/OPENAI_API_KEY|REDIS_URL/);
    expect(out).toMatch(/No such file or directory|Permission denied/);
  });

  it('the shell has no network, not even to the host loopback', async () => {
    const out = await callTool('shell', { command: `(echo > /dev/tcp/127.0.0.1/${baitPort}) 2>&1; echo "exit=$?"` });
    expect(out).toMatch(/exit=1/);
    expect(baitHits).toBe(0);
    // Nor outside: the sandbox's network namespace has no route and no name service, so nothing leaves the host.
    const outside = await callTool('shell', { command: '(echo > /dev/tcp/192.0.2.1/80) 2>&1; echo "tcp=$?"; ip route 2>&1 | head -1; getent hosts example.com; echo "dns=$?"' });
    expect(outside).toMatch(/Network is unreachable/);
    expect(outside).toContain('tcp=1');
    expect(outside).toMatch(/dns=2/);
  });

  it('the shell cannot write outside its workspace, and a fork bomb ends without harm', async () => {
    const writes = await callTool('shell', { command: 'touch /usr/x /etc/x /x 2>&1; touch /workspace/ok && echo wrote-workspace' });
    expect(writes).toContain('wrote-workspace');
    expect(writes.match(/Read-only file system|Permission denied/g)?.length).toBeGreaterThanOrEqual(3);
    const bomb = await callTool('shell', { command: ':(){ :|:& };:', timeoutMs: 3000 });
    expect(bomb).toBeTruthy();
    // The system still answers afterwards.
    expect(await callTool('shell', { command: 'echo still-here' })).toContain('still-here');
  });

  it('file tools refuse traversal and web_fetch refuses loopback, before any connection', async () => {
    expect(await callTool('read_file', { path: '../../../etc/passwd' })).toMatch(/^error: /);
    expect(await callTool('read_file', { path: '/etc/passwd' })).toMatch(/^error: /);
    const blocked = [
      `http://127.0.0.1:${baitPort}/`,
      `http://[::1]:${baitPort}/`,
      `http://0.0.0.0:${baitPort}/`,
      `http://2130706433:${baitPort}/`,
      `http://0177.0.0.1:${baitPort}/`,
      `http://[::ffff:127.0.0.1]:${baitPort}/`,
      'http://169.254.169.254/latest/meta-data/',
    ];
    for (const url of blocked) expect(await callTool('web_fetch', { url }), url).toMatch(/^error: .*(blocked|not allowed|refus)/i);
    // A site web_fetch may reach redirects to each of them: every hop is checked again.
    expect(await callTool('web_fetch_site', { url: `http://127.0.0.1:${sitePort}/` })).toContain('public page');
    for (const url of blocked) {
      expect(await callTool('web_fetch_site', { url: `http://127.0.0.1:${sitePort}/?to=${encodeURIComponent(url)}` }), url).toMatch(/^error: /);
    }
    expect(baitHits).toBe(0);
  });

  it('file tools refuse symlinks that lead outside the workspace', async () => {
    const ws = 'symlink-session';
    expect(await callTool('shell', { command: 'ln -s /etc/passwd pw && ln -s / rootfs && ln -s .. up && echo linked' }, ws)).toContain('linked');
    for (const path of ['pw', 'rootfs/etc/passwd', 'up/up/etc/passwd']) {
      const out = await callTool('read_file', { path }, ws);
      expect(out, path).toMatch(/^error: /);
      expect(out).not.toContain('root:x:0:0');
    }
    expect(await callTool('write_file', { path: 'rootfs/tmp/escaped', content: 'x' }, ws)).toMatch(/^error: /);
  });

  it('an infinite loop is killed at the time limit, and gigabytes of output at the output cap', async () => {
    let started = Date.now();
    const loop = await callTool('shell', { command: 'while :; do :; done', timeoutMs: 1500 });
    expect(loop).toMatch(/^error: killed: time limit of 1500 ms reached/);
    expect(Date.now() - started).toBeLessThan(15_000);
    // `yes` would print forever: killed once 16 MiB (SHELL_MAX_OUTPUT_MB) came out, long before the gigabytes.
    started = Date.now();
    const flood = await callTool('shell', { command: 'yes "gigabytes of output" | head -c 5G; echo finished' });
    expect(flood).toMatch(/^error: killed: output exceeded 16777216 bytes/);
    expect(flood).not.toContain('finished');
    // The model gets the head and tail of it, within the tool output cap (16 KiB by default).
    expect(Buffer.byteLength(flood)).toBeLessThan(20_000);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a workspace disk quota holds for shell and write_file, and deleting frees space again', async () => {
    const ws = 'quota-session';
    // One file cannot outgrow the space left (1 MiB): the write stops at the limit (SIGXFSZ).
    const big = await callTool('shell', { command: 'head -c 3M /dev/zero > big; echo "rc=$?"; stat -c "size=%s" big' }, ws);
    expect(big).toContain('rc=153');
    const size = Number(/size=(\d+)/.exec(big)![1]);
    expect(size).toBeLessThanOrEqual(1024 * 1024);
    // Now at the quota: write_file is refused before it creates anything, and the shell cannot grow files.
    expect(await callTool('write_file', { path: 'notes/more.txt', content: 'x'.repeat(2000) }, ws)).toMatch(/^error: the workspace quota of 1048576 bytes would be exceeded/);
    const full = await callTool('shell', { command: '(echo hi > small); echo "rc=$?"; ls' }, ws);
    expect(full).toContain('at its disk quota');
    expect(full).toMatch(/rc=(1|153)/);
    expect(full).not.toContain('notes');
    // Deleting makes room again.
    expect(await callTool('shell', { command: 'rm -f big small && echo removed' }, ws)).toContain('removed');
    expect(await callTool('write_file', { path: 'notes/more.txt', content: 'x'.repeat(2000) }, ws)).toMatch(/created notes\/more.txt \(2000 bytes\)/);
    // Many files, each under the limit, together over it: the run is killed by the quota watch.
    const swarm = await callTool('shell', { command: 'for i in $(seq 1 20); do head -c 400K /dev/zero > f$i; done; sleep 5; echo survived' }, ws);
    expect(swarm).toMatch(/^error: killed: the workspace went over its disk quota/);
    expect(swarm).not.toContain('survived');
    expect(await callTool('shell', { command: 'rm -f f* && echo cleaned' }, ws)).toContain('cleaned');
  });

  it('malformed tool arguments go back to the model and run nothing', async () => {
    expect(await callTool('shell', { cmd: 'rm -rf /workspace' })).toMatch(/^error: arguments do not match the schema of shell/);
  });
});
