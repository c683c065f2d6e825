import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import type { ToolContext, ToolPlugin } from '@switchboard/tools';
import { createMemoryTools } from './memory-tools.ts';
import { MemoryStore } from './memory-store.ts';
import { userScope } from './types.ts';

let db: Db;
beforeAll(async () => {
  db = await openDatabase({});
});
afterAll(async () => {
  await db?.close();
});

// A model's tool arguments are JSON, so "\u0000" reaches the tool as U+0000, which Postgres text cannot hold.
it('forgets by words that hold U+0000 instead of failing the statement', async () => {
  const store = new MemoryStore(db, { logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }) });
  await store.add({ ...userScope('web', 'nul'), content: 'The user drinks green tea.', source: 'api', userId: 'nul' });
  await store.add({ ...userScope('web', 'nul'), content: 'The user owns a black cat.', source: 'api', userId: 'nul' });
  expect((await store.forget({ scopes: [userScope('web', 'nul')], query: 'black\u0000 cat' })).map((m) => m.content)).toEqual(['The user owns a black cat.']);
  const forget = createMemoryTools(store, { agent: 'default' }).find((t) => t.name === 'forget') as ToolPlugin;
  const ctx: ToolContext = { sessionKey: 'web:local:nul', userId: 'nul', platform: 'web', turnId: 't1', toolCallId: 'c1', signal: new AbortController().signal, personal: true };
  expect(String(await forget.execute(forget.parameters.parse({ query: 'green tea\u0000' }), ctx))).toMatch(/^forgot 1: /);
});
