import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis, LaneStore } from '@switchboard/lanes';
import { z } from 'zod';
import { defineTool, type ToolPlugin } from '@switchboard/tools';
import { waitFor } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

let release!: () => void;
const gate = new Promise<void>((r) => (release = r));
let runs = 0;
const longJob = defineTool({
  name: 'long_job',
  description: 'A long computation',
  risk: 'low',
  background: true,
  outputTrusted: true,
  timeoutMs: 30_000,
  parameters: z.object({ n: z.number() }),
  execute: async ({ n }) => {
    runs += 1;
    await gate;
    return `result ${n * 2}`;
  },
}) as unknown as ToolPlugin;

let counted = 0;
const counterTool = defineTool({
  name: 'count_once',
  description: 'Has a side effect that must happen once',
  risk: 'low',
  outputTrusted: true,
  parameters: z.object({}),
  execute: async () => `side effect #${++counted}`,
}) as unknown as ToolPlugin;

/** Shows the settings it was given for this agent, channel and user. */
const settingsProbe = defineTool({
  name: 'settings_probe',
  description: 'Reports its settings',
  risk: 'low',
  outputTrusted: true,
  parameters: z.object({}),
  execute: async (_args, ctx) => `settings ${JSON.stringify(ctx.settings)} ${'.'.repeat(2000)}`,
}) as unknown as ToolPlugin;

let t: TestSystem;
let store: LaneStore;
let policyDir: string;
const redis = createRedis(inject('redisUrl'));
beforeAll(async () => {
  // Per-scope tool settings: every web user gets one option; users whose id matches vip* another,
  // and a smaller output cap.
  policyDir = await mkdtemp(join(tmpdir(), 'sb-policy-'));
  const policyFile = join(policyDir, 'policy.yaml');
  await writeFile(
    policyFile,
    [
      'settings:',
      '  - { tool: settings_probe, channel: web, options: { tier: basic, lang: en } }',
      "  - { tool: settings_probe, user: 'local/vip*', maxOutputBytes: 300, options: { tier: gold } }",
    ].join('\n'),
  );
  t = await startTestSystem({ toolPlugins: [longJob, counterTool, settingsProbe], env: { POLICY_FILE: policyFile } });
  store = new LaneStore(redis, { prefix: t.prefix });
});
afterAll(async () => {
  release();
  await t?.stop();
  redis.disconnect();
  if (policyDir) await rm(policyDir, { recursive: true, force: true });
});

describe('background tools', () => {
  it('do not hold the lane; the result comes back as a system event and the agent continues', async () => {
    t.model.setScript((body) => {
      const last = body.messages[body.messages.length - 1]!;
      const text = typeof last.content === 'string' ? last.content : '';
      if (last.role === 'user' && text === 'start the job') return { toolCalls: [{ id: 'bg1', name: 'long_job', arguments: { n: 21 } }] };
      if (last.role === 'tool') return { text: `ok: ${text}` };
      if (text.startsWith('[system event] Background tool long_job')) return { text: `the job says ${text.split('\n')[1]}` };
      return { text: `echo: ${text}` };
    });
    await postJson(t.url, '/v1/sessions/bg/messages', { text: 'start the job' });
    const replies = async () => (await store.readEvents('web:local:bg', '0')).flatMap((e) => (e.event.type === 'reply' ? [e.event.text] : []));
    await waitFor(async () => (await replies()).length === 1, { timeoutMs: 15_000 });
    expect((await replies())[0]).toMatch(/^ok: started in the background/);
    // The lane is free while the tool runs: once it runs, a new message is answered before the job ends.
    await waitFor(() => runs === 1, { timeoutMs: 15_000 });
    await postJson(t.url, '/v1/sessions/bg/messages', { text: 'are you free?' });
    await waitFor(async () => (await replies()).length === 2, { timeoutMs: 15_000 });
    expect((await replies())[1]).toBe('echo: are you free?');
    expect(runs).toBe(1);
    release();
    await waitFor(async () => (await replies()).length === 3, { timeoutMs: 15_000 });
    expect((await replies())[2]).toBe('the job says result 42');
    expect(runs).toBe(1);
  });
});

describe('a retried turn', () => {
  it('does not run a tool again: the finished step is replayed', async () => {
    let failedOnce = false;
    t.model.setScript((body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'once', name: 'count_once', arguments: {} }] };
      if (!failedOnce) {
        failedOnce = true;
        // The model fails after the tool ran: the turn fails and is retried from its checkpoints.
        return { status: 500 };
      }
      return { text: `done after ${tool.content}` };
    });
    await postJson(t.url, '/v1/sessions/retry1/messages', { text: 'do it once' });
    const replies = async () => (await store.readEvents('web:local:retry1', '0')).flatMap((e) => (e.event.type === 'reply' ? [e.event.text] : []));
    await waitFor(async () => (await replies()).length === 1, { timeoutMs: 20_000 });
    expect(await replies()).toEqual(['done after side effect #1']);
    expect(counted).toBe(1);
    expect(failedOnce).toBe(true);
  });
});

describe('per-scope tool settings', () => {
  it('configure a tool per channel and user through the policy file', async () => {
    t.model.setScript((body) => {
      const lastUser = body.messages.map((m) => m.role).lastIndexOf('user');
      const tool = body.messages.slice(lastUser).find((m) => m.role === 'tool');
      return tool ? { text: String(tool.content) } : { toolCalls: [{ id: 'p1', name: 'settings_probe', arguments: {} }] };
    });
    const ask = async (session: string) => {
      const res = await postJson(t.url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'probe' }] }, { 'x-session-id': session });
      return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
    };
    const basic = await ask('regular-user');
    expect(basic).toContain('settings {"tier":"basic","lang":"en"}');
    expect(basic).not.toContain('output truncated');
    const vip = await ask('vip-user');
    expect(vip).toContain('settings {"tier":"gold","lang":"en"}');
    expect(vip).toContain('[output truncated at 300 bytes]');
  });
});
