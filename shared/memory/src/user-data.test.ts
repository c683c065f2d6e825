import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';
import { MemoryStore } from './memory-store.ts';
import { commitTurn, recordingLogger } from './test-support.ts';
import { userScope } from './types.ts';
import { deleteUserData } from './user-data.ts';

let db: Db;
let model: FakeOpenAI;
beforeAll(async () => {
  [db, model] = await Promise.all([openDatabase({}), startFakeOpenAI()]);
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

/** Every row of every table in the public schema, as text. */
export async function everyRow(db: Db): Promise<string> {
  const { rows: tables } = await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
  const dump: string[] = [];
  for (const { tablename } of tables) {
    const { rows } = await db.query(`SELECT * FROM "${tablename}"`);
    dump.push(`${tablename}: ${JSON.stringify(rows)}`);
  }
  return dump.join('\n');
}

describe('deleteUserData', () => {
  it('leaves nothing of the user in any table and keeps everyone else’s data', async () => {
    const { logger } = recordingLogger();
    const registry = createRegistry({ defaultMetrics: false });
    const store = new MemoryStore(db, { logger, registry, embedder: new EmbeddingClient(db, { baseURL: model.url, model: 'fake-embedding' }, memoryMetrics(registry), logger) });
    // Lena's own conversation, with a summary, a memory run and an audit entry.
    await commitTurn(db, { key: 'dm-lena', userId: 'lena' }, 'tl1', [
      { role: 'user', content: 'my passport number is QX-55821' },
      { role: 'assistant', content: 'Noted QX-55821.' },
    ]);
    await db.query(`INSERT INTO summaries (session_id, from_seq, to_seq, content, tokens) VALUES ('dm-lena', 1, 2, 'Lena passport QX-55821', 5)`);
    await db.query(`INSERT INTO memory_runs (key, kind, session_id, turn_id) VALUES ('extract:tl1', 'extract', 'dm-lena', 'tl1')`);
    await db.query(
      `INSERT INTO tool_audit (session_id, user_id, platform, turn_id, tool_call_id, tool, arguments, decision, outcome) VALUES ('dm-lena', 'lena', 'web', 'tl1', 'c1', 'remember', '{"content":"QX-55821"}', 'allow', 'ok')`,
    );
    await store.add({ ...userScope('web', 'lena'), content: 'The user’s passport number is QX-55821.', userId: 'lena', platform: 'web', sessionId: 'dm-lena', source: 'extract' });
    await store.add({ scope: 'session', scopeId: 'group-1', content: 'Lena said the offsite is in Porto.', userId: 'lena', platform: 'web', sessionId: 'group-1', source: 'extract' });
    // A group both speak in: Lena alone in one turn, both in another.
    await commitTurn(db, { key: 'group-1', userId: 'max' }, 'tg1', [
      { role: 'user', content: 'Lena here: the offsite is in Porto', userId: 'lena' },
      { role: 'assistant', content: 'Porto it is.' },
    ]);
    await commitTurn(db, { key: 'group-1', userId: 'max' }, 'tg2', [
      { role: 'user', content: 'Lena again: booking flights', userId: 'lena' },
      { role: 'user', content: 'Max: I will drive', userId: 'max' },
      { role: 'assistant', content: 'Have a good trip, both of you.' },
    ]);
    await db.query(`INSERT INTO summaries (session_id, from_seq, to_seq, content, tokens) VALUES ('group-1', 1, 2, 'Lena: offsite in Porto', 5)`);
    // Max's group memory, and Lena's near-duplicate of it: hers stays hers (it is not merged into his).
    await store.add({ scope: 'session', scopeId: 'group-1', content: 'The team offsite is in Lisbon from the 12th to the 15th of May at the riverside hotel.', userId: 'max', platform: 'web', sessionId: 'group-1', source: 'extract' });
    expect(
      await store.add({ scope: 'session', scopeId: 'group-1', content: 'Lena said the team offsite is in Lisbon from the 12th to the 15th of May at the riverside hotel.', userId: 'lena', platform: 'web', sessionId: 'group-1', source: 'extract' }),
    ).toMatchObject({ outcome: 'created' });
    // The same words from both, Lena first: two rows, one each (merged, Max's would go with hers).
    await store.add({ scope: 'session', scopeId: 'group-1', content: 'The budget is 40k euros.', userId: 'lena', platform: 'web', sessionId: 'group-1', source: 'extract' });
    expect(
      await store.add({ scope: 'session', scopeId: 'group-1', content: 'The budget is 40k euros.', userId: 'max', platform: 'web', sessionId: 'group-1', source: 'extract' }),
    ).toMatchObject({ outcome: 'created' });
    // The same writer saying it again still merges; a search shows the words once.
    expect(
      await store.add({ scope: 'session', scopeId: 'group-1', content: 'The budget is 40k euros.', userId: 'max', platform: 'web', sessionId: 'group-1', source: 'extract' }),
    ).toMatchObject({ outcome: 'merged' });
    expect((await store.search({ scopes: [{ scope: 'session', scopeId: 'group-1' }], query: 'budget euros', touch: false })).filter((m) => m.content.includes('budget'))).toHaveLength(1);
    // Max's own data.
    await commitTurn(db, { key: 'dm-max', userId: 'max' }, 'tm1', [
      { role: 'user', content: 'my bike is a Brompton' },
      { role: 'assistant', content: 'Nice bike.' },
    ]);
    await store.add({ ...userScope('web', 'max'), content: 'The user’s bike is a Brompton.', userId: 'max', platform: 'web', source: 'extract' });

    // The web service bumps the touched sessions' fencing tokens before the commit; when it cannot, nothing is deleted.
    await expect(deleteUserData(db, 'lena', { beforeCommit: async () => Promise.reject(new Error('redis is down')) })).rejects.toThrow('redis is down');
    expect(await everyRow(db)).toContain('QX-55821');
    let touched: string[] = [];
    const deleted = await deleteUserData(db, 'lena', { beforeCommit: async (ids) => void (touched = ids) });
    expect(touched.sort()).toEqual(['dm-lena', 'group-1']);
    expect(deleted.sessionIds).toEqual(touched);
    expect(deleted).toMatchObject({ sessions: 1, memories: 4, summaries: 2, toolAudit: 1 });
    expect(deleted.embeddings).toBeGreaterThan(0);
    const left = await everyRow(db);
    for (const trace of ['lena', 'Lena', 'QX-55821', 'dm-lena', 'Porto', 'tl1', 'tg1']) expect(left).not.toContain(trace);
    // Max keeps his conversation, memories and embeddings, and his line in the shared turn.
    expect(left).toContain('Brompton');
    expect(left).toContain('Max: I will drive');
    expect(left).toContain('The team offsite is in Lisbon');
    expect((await store.list([{ scope: 'session', scopeId: 'group-1' }])).map((m) => m.content)).toContain('The budget is 40k euros.');
    expect((await store.search({ scopes: [userScope('web', 'max')], query: 'bike' })).map((m) => m.content)).toEqual(['The user’s bike is a Brompton.']);
    expect(await deleteUserData(db, 'lena')).toEqual({ sessionIds: [], sessions: 0, messages: 0, turns: 0, summaries: 0, memories: 0, embeddings: 0, toolAudit: 0 });
  });
});
