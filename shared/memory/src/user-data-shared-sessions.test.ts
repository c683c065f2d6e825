import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { MemoryStore } from './memory-store.ts';
import { commitTurn } from './test-support.ts';
import { deleteUserData } from './user-data.ts';

// The session row's user_id is whoever sent the session's first message, in a group too (the agent
// worker's commit writes the first message's sender). Deleting that member must not take the other
// members' messages, memories and audit entries with it.
let db: Db;
beforeAll(async () => {
  db = await openDatabase({});
});
afterAll(async () => {
  await db?.close();
});

it("deleting the member who opened a group keeps the other members' messages, memories and audit entries", async () => {
  const store = new MemoryStore(db, { logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }) });
  // Lena sends the group's first message, so the session row names her.
  await commitTurn(db, { key: 'group-opened-by-lena', userId: 'lena' }, 'g1', [
    { role: 'user', content: 'Lena: shall we plan the offsite?', userId: 'lena' },
    { role: 'assistant', content: 'Sure.' },
  ]);
  await commitTurn(db, { key: 'group-opened-by-lena', userId: 'lena' }, 'g2', [
    { role: 'user', content: 'Max: I will book the Lisbon venue', userId: 'max' },
    { role: 'assistant', content: 'Venue noted, Max.' },
  ]);
  await store.add({ scope: 'session', scopeId: 'group-opened-by-lena', content: 'Max books the Lisbon venue.', userId: 'max', platform: 'web', sessionId: 'group-opened-by-lena', source: 'extract' });
  await store.add({ scope: 'session', scopeId: 'group-opened-by-lena', content: 'Lena proposed the offsite.', userId: 'lena', platform: 'web', sessionId: 'group-opened-by-lena', source: 'extract' });
  await db.query(
    `INSERT INTO tool_audit (session_id, user_id, platform, turn_id, tool_call_id, tool, arguments, decision, outcome) VALUES ('group-opened-by-lena', 'max', 'web', 'g2', 'c1', 'remember', '{}', 'allow', 'ok')`,
  );

  await deleteUserData(db, 'lena');

  const messages = (await db.query<{ content: string }>(`SELECT content FROM messages WHERE session_id = 'group-opened-by-lena' ORDER BY seq`)).rows.map((r) => r.content);
  expect(messages).toEqual(['Max: I will book the Lisbon venue', 'Venue noted, Max.']);
  expect((await store.list([{ scope: 'session', scopeId: 'group-opened-by-lena' }])).map((m) => m.content)).toEqual(['Max books the Lisbon venue.']);
  expect((await db.query(`SELECT 1 FROM tool_audit WHERE user_id = 'max'`)).rows).toHaveLength(1);
  // And nothing names Lena any more.
  expect((await db.query(`SELECT 1 FROM sessions WHERE user_id = 'lena'`)).rows).toHaveLength(0);
  expect((await db.query(`SELECT 1 FROM messages WHERE user_id = 'lena'`)).rows).toHaveLength(0);
});

it("deletes the approvals of the user's own turns in a shared session (their tool arguments are the user's data)", async () => {
  await commitTurn(db, { key: 'group-opened-by-max', userId: 'max' }, 'h1', [
    { role: 'user', content: 'Max: hello', userId: 'max' },
    { role: 'assistant', content: 'Hello Max.' },
  ]);
  await commitTurn(db, { key: 'group-opened-by-max', userId: 'max' }, 'h2', [
    { role: 'user', content: 'Ria: email my doctor about the MRI-7731 results', userId: 'ria' },
    { role: 'assistant', content: 'Waiting for approval.' },
  ]);
  for (const [id, turn, args] of [['ap-ria', 'h2', '{"to":"doctor","body":"MRI-7731"}'], ['ap-max', 'h1', '{"to":"team"}']] as const) {
    await db.query(
      `INSERT INTO approvals (id, session_id, turn_id, tool_call_id, tool, arguments, reason, expires_at) VALUES ($1, 'group-opened-by-max', $2, 'c1', 'send_email', $3, 'ask', now() + interval '1 hour')`,
      [id, turn, args],
    );
  }
  await deleteUserData(db, 'ria');
  expect((await db.query<{ id: string }>(`SELECT id FROM approvals WHERE session_id = 'group-opened-by-max' ORDER BY id`)).rows.map((r) => r.id)).toEqual(['ap-max']);
});

it('still deletes a session of the user’s own that hooks and heartbeats post into', async () => {
  await commitTurn(db, { key: 'web-of-ana', userId: 'acct/ana' }, 'w1', [
    { role: 'user', content: 'my passport number is X1234567', userId: 'acct/ana' },
    { role: 'assistant', content: 'Noted.' },
  ]);
  await commitTurn(db, { key: 'web-of-ana', userId: 'acct/ana' }, 'w2', [
    { role: 'user', content: 'Check in: anything due?', userId: 'heartbeat:main' },
    { role: 'assistant', content: 'Your passport X1234567 expires soon.' },
  ]);
  await commitTurn(db, { key: 'web-of-ana', userId: 'acct/ana' }, 'w3', [
    { role: 'user', content: 'deploy finished', userId: 'hook:deploys' },
    { role: 'assistant', content: 'Good.' },
  ]);
  await deleteUserData(db, 'acct/ana');
  expect((await db.query(`SELECT 1 FROM messages WHERE session_id = 'web-of-ana'`)).rows).toHaveLength(0);
  expect((await db.query(`SELECT 1 FROM sessions WHERE id = 'web-of-ana'`)).rows).toHaveLength(0);
});

// A hook's turn runs like any other: its tool calls are audited under the turn's first sender
// (`hook:<name>`), and the facts extracted from it are stored under that sender too. Neither is a
// person taking part, so the user's own session must still go whole.
it('deletes a session of the user’s own whose hook turn called a tool and left a memory', async () => {
  const store = new MemoryStore(db, { logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }) });
  await commitTurn(db, { key: 'web-of-bo', userId: 'acct/bo' }, 'b1', [
    { role: 'user', content: 'my passport number is X7654321', userId: 'acct/bo' },
    { role: 'assistant', content: 'Noted.' },
  ]);
  await commitTurn(db, { key: 'web-of-bo', userId: 'acct/bo' }, 'b2', [
    { role: 'user', content: 'deploy of passport-renewal finished', userId: 'hook:deploys' },
    { role: 'assistant', content: 'Bo, your passport X7654321 renewal form is deployed.' },
  ]);
  await db.query(
    `INSERT INTO tool_audit (session_id, user_id, platform, turn_id, tool_call_id, tool, arguments, decision, outcome) VALUES ('web-of-bo', 'hook:deploys', 'web', 'b2', 'c1', 'remember', '{}', 'allow', 'ok')`,
  );
  await store.add({ scope: 'user', scopeId: 'web:hook:deploys', content: 'Deploys happen on Fridays.', userId: 'hook:deploys', platform: 'web', sessionId: 'web-of-bo', source: 'extract' });

  await deleteUserData(db, 'acct/bo');

  expect((await db.query<{ content: string }>(`SELECT content FROM messages WHERE session_id = 'web-of-bo'`)).rows.map((r) => r.content)).toEqual([]);
  expect((await db.query(`SELECT 1 FROM sessions WHERE id = 'web-of-bo'`)).rows).toHaveLength(0);
});
