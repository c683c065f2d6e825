import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { MemoryStore } from './memory-store.ts';
import { commitTurn } from './test-support.ts';
import { deleteUserData } from './user-data.ts';

let db: Db;
beforeAll(async () => {
  db = await openDatabase({});
});
afterAll(async () => {
  await db?.close();
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
