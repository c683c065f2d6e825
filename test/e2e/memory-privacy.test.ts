import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { EXTRACTION_SYSTEM_PROMPT, SUMMARY_SYSTEM_PROMPT } from '@switchboard/memory';
import { lastUserMessages, messageText, waitFor, type FakeChatRequest, type FakeResponse } from '@switchboard/testkit';
import { postJson } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

let t: TestSystem;
beforeAll(async () => {
  t = await startTestSystem({ env: { EMBEDDING_MODEL: 'fake-embedding', TOOLS_ENABLED: 'remember,recall,forget', MEMORY_EXTRACTION: 'turn' } });
});
const redis = createRedis(inject('redisUrl'));
afterAll(async () => {
  redis.disconnect();
  await t?.stop();
});

const kindOf = (body: FakeChatRequest) => {
  const system = body.messages[0] ? messageText(body.messages[0]) : '';
  return system === EXTRACTION_SYSTEM_PROMPT ? 'extract' : system === SUMMARY_SYSTEM_PROMPT ? 'summarize' : 'chat';
};
function extraction(body: FakeChatRequest): FakeResponse {
  const excerpt = lastUserMessages(body).join('\n');
  const memories = [...excerpt.matchAll(/^User: .*?\bmy ([\w' ]{2,40}?) is ([\p{L}\p{N}-]+)/gimu)].map((m) => ({ content: `The user's ${m[1]} is ${m[2]}.`, kind: 'fact', importance: 0.8 }));
  return { text: JSON.stringify({ memories }) };
}
/** The chat model: asks `recall` (or `remember`) when told to, then answers with what the tool said. */
function chat(body: FakeChatRequest): FakeResponse {
  const tool = [...body.messages].reverse().find((m) => m.role === 'tool');
  const lastUser = [...body.messages].reverse().find((m) => m.role === 'user');
  const asked = lastUser ? messageText(lastUser) : '';
  const afterUser = body.messages.indexOf(lastUser!) < body.messages.indexOf(tool!);
  if (tool && afterUser) return { text: `tool said: ${messageText(tool)}` };
  if (asked.startsWith('remember:')) return { toolCalls: [{ name: 'remember', arguments: { content: asked.slice('remember:'.length).trim() } }] };
  if (asked.startsWith('recall:')) return { toolCalls: [{ name: 'recall', arguments: { query: asked.slice('recall:'.length).trim() } }] };
  return { text: 'ok' };
}
const say = async (sessionId: string, text: string) => {
  const res = await postJson(t.url, '/v1/chat/completions', { messages: [{ role: 'user', content: text }] }, { 'x-session-id': sessionId });
  expect(res.status).toBe(200);
  return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
};
/** Every row of every table, as text. */
async function everyRow(): Promise<string> {
  const { rows: tables } = await t.system.db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
  const dump: string[] = [];
  for (const { tablename } of tables) dump.push(`${tablename}: ${JSON.stringify((await t.system.db.query(`SELECT * FROM "${tablename}"`)).rows)}`);
  return dump.join('\n');
}
const memoriesOf = async (userId: string) =>
  (await t.system.db.query<{ content: string }>(`SELECT content FROM memories WHERE user_id = $1 ORDER BY id`, [userId])).rows.map((r) => r.content);

describe('memory privacy', () => {
  it('never puts one user’s memories in front of the model for another user, by retrieval or by the recall tool', async () => {
    t.model.setScript((body) => (kindOf(body) === 'extract' ? extraction(body) : chat(body)));
    await say('alice', 'Hi! my passport number is QX-55821, keep it in mind.');
    expect(await say('alice', "remember: The user's locker code is 7781.")).toMatch(/^tool said: remembered as #\d+/);
    await waitFor(async () => (await memoriesOf('local/alice')).length === 2);
    expect(await memoriesOf('local/alice')).toEqual(["The user's passport number is QX-55821.", "The user's locker code is 7781."]);

    const before = t.model.requests.length;
    await say('bob', 'What is my passport number?');
    expect(await say('bob', 'recall: passport number locker code')).toMatch(/no matching memories/);
    const bobs = t.model.requests.slice(before).filter((r) => kindOf(r) === 'chat');
    expect(bobs.length).toBe(3);
    for (const r of bobs) expect(JSON.stringify(r.messages)).not.toMatch(/QX-55821|7781/);

    // The same questions from Alice do reach her memories: the check above can fail.
    const mine = t.model.requests.length;
    await say('alice', 'What is my passport number?');
    const hers = t.model.requests.slice(mine).find((r) => kindOf(r) === 'chat')!;
    expect(messageText(hers.messages[0]!)).toContain("The user's passport number is QX-55821.");
    expect(await say('alice', 'recall: passport number locker code')).toMatch(/QX-55821[\s\S]*7781|7781[\s\S]*QX-55821/);
  }, 60_000);

  it('DELETE /v1/users/{userId}/data leaves nothing of that user in any table', async () => {
    await waitFor(async () => (await t.system.db.query(`SELECT 1 FROM memory_runs WHERE session_id = 'web:local:alice'`)).rows.length >= 4);
    expect(await redis.xlen(`${t.prefix}:events:web:local:alice`)).toBeGreaterThan(0);
    const bad = await fetch(`${t.url}/v1/users/${'x'.repeat(600)}/data`, { method: 'DELETE' });
    expect(bad.status).toBe(400);
    const res = await fetch(`${t.url}/v1/users/${encodeURIComponent('local/alice')}/data`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { userId: string; deleted: Record<string, number> };
    expect(body.userId).toBe('local/alice');
    expect(body.deleted).toMatchObject({ sessions: 1, memories: 2 });
    const left = await everyRow();
    for (const trace of ['local/alice', 'web:local:alice', 'QX-55821', '7781']) expect(left).not.toContain(trace);
    expect(left).toContain('web:local:bob'); // Bob's conversation is untouched
    // Nor does the session's event stream replay her words to an SSE reader or the console.
    expect(await redis.exists(`${t.prefix}:events:web:local:alice`)).toBe(0);
    expect(await redis.exists(`${t.prefix}:events:web:local:bob`)).toBe(1);
    expect((await (await fetch(`${t.url}/v1/users/${encodeURIComponent('local/alice')}/data`, { method: 'DELETE' })).json()) as unknown).toMatchObject({ deleted: { sessions: 0, memories: 0 } });

    // Her next message starts from nothing: the worker that ran her last turns does not reuse the history it kept of them.
    const next = t.model.requests.length;
    await say('alice', 'Hello again');
    const chats = t.model.requests.slice(next).filter((r) => kindOf(r) === 'chat');
    expect(chats).toHaveLength(1);
    expect(JSON.stringify(chats[0]!.messages)).not.toMatch(/QX-55821|7781|recall:/);
  }, 30_000);
});
