/**
 * Operator keys (SWITCHBOARD_ADMIN_KEYS): the console's admin routes span every account for an
 * operator, while an ordinary key still sees only its own; an operator answers another account's
 * approval and the parked turn resumes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type FakeChatMessage, type FakeScript } from '@switchboard/testkit';
import { collectEvents, postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const ALICE = 'alice-key-0c1d2e3f';
const BOB = 'bob-key-9a8b7c6d';
const OPS = 'ops-key-5e4f3a2b';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const text = (m: FakeChatMessage) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text ?? '').join(''));

const script: FakeScript = (body) => {
  const lastUser = body.messages.map((m) => m.role).lastIndexOf('user');
  if (!text(body.messages[lastUser]!).includes('use the tool')) return { text: 'hello back' };
  const tool = body.messages.slice(lastUser).find((m) => m.role === 'tool');
  if (!tool) return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'ops approved' } }] };
  return { text: `tool said: ${text(tool)}` };
};

let t: TestSystem;
beforeAll(async () => {
  t = await startTestSystem({ env: { SWITCHBOARD_API_KEYS: `${ALICE},${BOB}`, SWITCHBOARD_ADMIN_KEYS: OPS, TOOLS_ASK: 'echo' }, model: { script } });
});
afterAll(async () => {
  await t?.stop();
});

const get = async <T>(path: string, key: string): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${t.url}${path}`, { headers: auth(key) });
  return { status: res.status, body: (await res.json()) as T };
};
type Sessions = { sessions: Array<{ id: string; chatId: string }> };

describe('operator keys', () => {
  it('see every account’s sessions and transcripts; ordinary keys only their own', async () => {
    await postJson(t.url, '/v1/sessions/ops-a/messages', { text: 'from alice' }, auth(ALICE));
    await postJson(t.url, '/v1/sessions/ops-b/messages', { text: 'from bob' }, auth(BOB));
    await collectEvents(t.url, 'ops-a', (es) => es.some((e) => e.event === 'reply'), { headers: auth(ALICE) });
    await collectEvents(t.url, 'ops-b', (es) => es.some((e) => e.event === 'reply'), { headers: auth(BOB) });

    const ops = await waitFor(async () => {
      const r = await get<Sessions>('/v1/admin/sessions', OPS);
      return r.body.sessions.length >= 2 ? r : undefined;
    });
    expect(ops.body.sessions.map((s) => s.chatId).sort()).toEqual(['ops-a', 'ops-b']);
    const alice = await get<Sessions>('/v1/admin/sessions', ALICE);
    expect(alice.body.sessions.map((s) => s.chatId)).toEqual(['ops-a']);

    const bobSession = ops.body.sessions.find((s) => s.chatId === 'ops-b')!;
    expect((await get(`/v1/admin/sessions/${encodeURIComponent(bobSession.id)}/transcript`, ALICE)).status).toBe(404);
    const transcript = await get<{ messages: Array<{ content: string }> }>(`/v1/admin/sessions/${encodeURIComponent(bobSession.id)}/transcript`, OPS);
    expect(transcript.status).toBe(200);
    expect(transcript.body.messages.map((m) => m.content)).toContain('from bob');
  });

  it('answer another account’s approval, which an ordinary key cannot', async () => {
    await postJson(t.url, '/v1/sessions/ops-tool/messages', { text: 'use the tool' }, auth(BOB));
    const events = await collectEvents(t.url, 'ops-tool', (es) => es.some((e) => e.event === 'approval_request'), { headers: auth(BOB) });
    const { id } = JSON.parse(events.find((e) => e.event === 'approval_request')!.data) as { id: string };
    const pending = await get<{ approvals: Array<{ id: string }> }>('/v1/admin/approvals', OPS);
    expect(pending.body.approvals.map((a) => a.id)).toContain(id);
    expect((await get<{ approvals: unknown[] }>('/v1/admin/approvals', ALICE)).body.approvals).toEqual([]);

    expect((await postJson(t.url, `/v1/approvals/${id}`, { decision: 'approve' }, auth(ALICE))).status).toBe(404);
    const res = await postJson(t.url, `/v1/approvals/${id}`, { decision: 'approve' }, auth(OPS));
    expect(res.status).toBe(200);
    const after = await collectEvents(t.url, 'ops-tool', (es) => es.some((e) => e.event === 'reply'), { headers: auth(BOB), timeoutMs: 20_000 });
    expect(JSON.parse(after.find((e) => e.event === 'reply')!.data)).toMatchObject({ text: 'tool said: ops approved' });
  });
});
