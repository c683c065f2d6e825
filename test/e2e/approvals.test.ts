import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { ApprovalBoard, argumentsDigest } from '@switchboard/tools';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { uniquePrefix, waitFor, type FakeScript } from '@switchboard/testkit';
import { collectEvents, postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/** The model calls `echo` once, then reports what the tool said. */
const toolThenReport: FakeScript = (body) => {
  const tool = body.messages.find((m) => m.role === 'tool');
  if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
  return { text: `tool said: ${tool.content}` };
};

const running: TestSystem[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function start(env: Record<string, string>, extra: Parameters<typeof startTestSystem>[0] = {}) {
  const t = await startTestSystem({ env: { TOOLS_ASK: 'echo', ...env }, ...extra });
  running.push(t);
  t.model.setScript(toolThenReport);
  return t;
}

async function approvalRequest(t: TestSystem, sessionId: string) {
  const events = await collectEvents(t.url, sessionId, (es) => es.some((e) => e.event === 'approval_request'));
  return JSON.parse(events.find((e) => e.event === 'approval_request')!.data) as { id: string; tool: string; arguments: unknown };
}

async function finalReply(t: TestSystem, sessionId: string): Promise<string> {
  const events = await collectEvents(t.url, sessionId, (es) => es.some((e) => e.event === 'reply'), { timeoutMs: 20_000 });
  return (JSON.parse(events.find((e) => e.event === 'reply')!.data) as { text: string }).text;
}

async function audit(t: TestSystem) {
  const { rows } = await t.system.db.query<{ tool: string; decision: string; outcome: string; approver: string | null; arguments: unknown }>(
    `SELECT tool, decision, outcome, approver, arguments FROM tool_audit ORDER BY id`,
  );
  return rows;
}

describe('approvals through the HTTP API', () => {
  it('asks, runs the tool once approved, and audits who approved', async () => {
    const t = await start({});
    await postJson(t.url, '/v1/sessions/ap1/messages', { text: 'use the tool' });
    const req = await approvalRequest(t, 'ap1');
    expect(req).toMatchObject({ tool: 'echo', arguments: { text: 'launch codes' } });
    // Nothing ran yet: the model has not seen a tool result.
    expect(t.model.requests.some((r) => r.messages.some((m) => m.role === 'tool'))).toBe(false);
    const res = await postJson(t.url, `/v1/approvals/${req.id}`, { decision: 'approve' });
    expect(res.status).toBe(200);
    expect(await finalReply(t, 'ap1')).toBe('tool said: launch codes');
    expect(await audit(t)).toEqual([expect.objectContaining({ tool: 'echo', decision: 'ask', outcome: 'ok', approver: 'api:local' })]);
    // A second answer is refused.
    expect((await postJson(t.url, `/v1/approvals/${req.id}`, { decision: 'deny' })).status).toBe(409);
  });

  it('tells the model when the user denies, and never runs the tool', async () => {
    const t = await start({});
    await postJson(t.url, '/v1/sessions/ap2/messages', { text: 'use the tool' });
    const req = await approvalRequest(t, 'ap2');
    expect((await postJson(t.url, `/v1/approvals/${req.id}`, { decision: 'deny' })).status).toBe(200);
    expect(await finalReply(t, 'ap2')).toMatch(/^tool said: error: the user denied this tool call/);
    expect(await audit(t)).toEqual([expect.objectContaining({ decision: 'ask', outcome: 'denied' })]);
  });

  it('denies on timeout', async () => {
    const t = await start({ APPROVAL_TIMEOUT_MS: '1000' });
    await postJson(t.url, '/v1/sessions/ap3/messages', { text: 'use the tool' });
    await approvalRequest(t, 'ap3');
    expect(await finalReply(t, 'ap3')).toMatch(/no one approved this tool call in time/);
  });

  it('rejects bad decisions, unknown ids and other accounts', async () => {
    const t = await start({ SWITCHBOARD_API_KEYS: 'key-a,key-b' });
    const a = { authorization: 'Bearer key-a' };
    await postJson(t.url, '/v1/sessions/ap4/messages', { text: 'use the tool' }, a);
    const events = await collectEvents(t.url, 'ap4', (es) => es.some((e) => e.event === 'approval_request'), { headers: a });
    const id = (JSON.parse(events.find((e) => e.event === 'approval_request')!.data) as { id: string }).id;
    expect((await postJson(t.url, `/v1/approvals/${id}`, { decision: 'maybe' }, a)).status).toBe(400);
    expect((await postJson(t.url, `/v1/approvals/ap_${'0'.repeat(32)}`, { decision: 'approve' }, a)).status).toBe(404);
    expect((await postJson(t.url, `/v1/approvals/${id}`, { decision: 'approve' }, { authorization: 'Bearer key-b' })).status).toBe(404);
    expect((await postJson(t.url, `/v1/approvals/${id}`, { decision: 'approve' })).status).toBe(401);
  });

  it('an approval covers only the call it was asked for: the same call id with other arguments does not run', async () => {
    const t = await start({});
    await postJson(t.url, '/v1/sessions/ap6/messages', { text: 'use the tool' });
    const req = await approvalRequest(t, 'ap6');
    expect(req.arguments).toEqual({ text: 'launch codes' });
    // The turn's checkpoint is lost, and the model, asked again, reuses the call id for other arguments.
    const redis = new Redis(inject('redisUrl'));
    try {
      expect(await redis.del(`${t.prefix}:steps:web:local:ap6`)).toBe(1);
    } finally {
      redis.disconnect();
    }
    t.model.setScript((body) => {
      const tool = body.messages.find((m) => m.role === 'tool');
      if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'something else' } }] };
      return { text: `tool said: ${tool.content}` };
    });
    expect((await postJson(t.url, `/v1/approvals/${req.id}`, { decision: 'approve' })).status).toBe(200);
    expect(await finalReply(t, 'ap6')).toMatch(/^tool said: error: this call is not the one put to the user for approval/);
    expect(await audit(t)).toEqual([expect.objectContaining({ decision: 'ask', outcome: 'mismatch', arguments: { text: 'something else' } })]);
  });

  it('stores a call whose id and arguments hold text Postgres cannot (U+0000, a lone surrogate), and runs it once approved', async () => {
    const t = await start({});
    t.model.setScript((body) => {
      const tools = body.messages.filter((m) => m.role === 'tool');
      if (tools.length === 0) {
        return { toolCalls: [{ id: 'call\u0000x', name: 'echo', arguments: { text: 'nul\u0000 \ud800' } }, { id: 'c\u00002', name: 'no\u0000such', arguments: {} }] };
      }
      return { text: `tools said: ${tools.map((m) => m.content).join(' | ')}` };
    });
    await postJson(t.url, '/v1/sessions/ap7/messages', { text: 'use the tool' });
    const req = await approvalRequest(t, 'ap7');
    expect((await postJson(t.url, `/v1/approvals/${req.id}`, { decision: 'approve' })).status).toBe(200);
    // The tool's output reaches the model as it was; only what is stored is made storable.
    const head = 'tools said: nul\u0000 \ud800 | error: unknown tool';
    expect((await finalReply(t, 'ap7')).slice(0, head.length)).toBe(head);
    const rows = await audit(t);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tool: 'echo', decision: 'ask', outcome: 'ok', arguments: { text: 'nul\ufffd \ufffd' } }),
        expect.objectContaining({ tool: 'no\ufffdsuch', decision: 'invalid' }),
      ]),
    );
  });

  it('an approval outlives a restart of every process in between', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sb-restart-'));
    const prefix = uniquePrefix('restart');
    try {
      const first = await start({}, { dataDir, prefix, keepData: true });
      await postJson(first.url, '/v1/sessions/ap5/messages', { text: 'use the tool' });
      const req = await approvalRequest(first, 'ap5');
      running.pop();
      await first.stop();
      const second = await start({}, { dataDir, prefix, keepData: true });
      expect((await postJson(second.url, `/v1/approvals/${req.id}`, { decision: 'approve' })).status).toBe(200);
      expect(await finalReply(second, 'ap5')).toBe('tool said: launch codes');
      await waitFor(async () => (await audit(second)).length === 1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the tool-runner checks policy again', () => {
  it('refuses a job for an ask-tool that carries no approval, or a forged one', async () => {
    const t = await start({});
    const queue = new Queue('tools', { connection: { url: inject('redisUrl') }, prefix: t.prefix });
    const redis = new Redis(inject('redisUrl'));
    const events = new QueueEvents('tools', { connection: { url: inject('redisUrl') }, prefix: t.prefix });
    try {
      await events.waitUntilReady();
      const job = { v: 1, turnId: 'forged', toolCallId: 'c1', sessionKey: 'web:local:x', platform: 'web', userId: 'u', tool: 'echo', arguments: { text: 'hi' } };
      const noApproval = await queue.add('echo', job, { jobId: 'forged-1' });
      expect(await noApproval.waitUntilFinished(events, 10_000)).toMatchObject({ ok: false, errorCode: 'unauthorized' });
      const fake = await queue.add('echo', { ...job, approvalId: `ap_${'1'.repeat(32)}` }, { jobId: 'forged-2' });
      expect(await fake.waitUntilFinished(events, 10_000)).toMatchObject({ ok: false, errorCode: 'unauthorized' });
      // A real approval covers its own arguments only.
      const board = new ApprovalBoard(redis, t.prefix);
      const approvalId = `ap_${'2'.repeat(32)}`;
      await board.publish({ id: approvalId, sessionKey: job.sessionKey, account: 'local', turnId: 'forged', toolCallId: 's1-c1', tool: 'echo', argsDigest: argumentsDigest({ text: 'hi' }) }, 60);
      expect((await board.decide(approvalId, 'approved', 'local', 'test')).ok).toBe(true);
      const other = await queue.add('echo', { ...job, arguments: { text: 'other' }, approvalId }, { jobId: 'forged-3' });
      expect(await other.waitUntilFinished(events, 10_000)).toMatchObject({ ok: false, errorCode: 'unauthorized' });
      const same = await queue.add('echo', { ...job, approvalId }, { jobId: 'forged-4' });
      expect(await same.waitUntilFinished(events, 10_000)).toMatchObject({ ok: true });
    } finally {
      redis.disconnect();
      await events.close();
      await queue.close();
    }
  });
});

describe('policy through the HTTP API', () => {
  it('denies by argument pattern and tells the model; tools denied outright are not offered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-policy-'));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'rules:\n  - tool: echo\n    args: { text: "codes" }\n    decision: deny\n    reason: no secrets\n');
    try {
      const t = await start({ TOOLS_ASK: '', POLICY_FILE: file });
      await postJson(t.url, '/v1/sessions/pol1/messages', { text: 'use the tool' });
      expect(await finalReply(t, 'pol1')).toBe('tool said: error: denied by policy: no secrets');
      expect(await audit(t)).toEqual([expect.objectContaining({ decision: 'deny', outcome: 'denied' })]);

      const u = await start({ TOOLS_ASK: '', TOOLS_ENABLED: 'read_file' });
      u.model.setScript(() => ({ text: 'no tools needed' }));
      await postJson(u.url, '/v1/sessions/pol2/messages', { text: 'hi' });
      await finalReply(u, 'pol2');
      const offered = (u.model.requests[0]!.tools ?? []).map((x) => (x as { function: { name: string } }).function.name);
      expect(offered).not.toContain('echo');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
