import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';
import { MemoryStore } from './memory-store.ts';
import { userScope } from './types.ts';

// text-embedding-3-large answers 3072 dimensions; pgvector's HNSW indexes `vector` only up to 2000.
let db: Db;
let model: FakeOpenAI;
beforeAll(async () => {
  [db, model] = await Promise.all([openDatabase({}), startFakeOpenAI({ embeddingDimensions: 3072 })]);
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

it('stores and searches by vector with an embedding model of more than 2000 dimensions', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = memoryMetrics(registry);
  const logger = createLogger({ service: 'test', level: 'silent' });
  const store = new MemoryStore(db, { logger, registry, embedder: new EmbeddingClient(db, { baseURL: model.url, model: 'text-embedding-3-large' }, metrics, logger) });
  const scope = userScope('web', 'wide');
  await store.add({ ...scope, content: 'The user plays the cello in an orchestra.', userId: 'wide', source: 'api' });
  const { rows } = await db.query<{ dims: number | null }>(`SELECT dims FROM memories WHERE scope_id = $1`, [scope.scopeId]);
  expect(rows.map((r) => r.dims)).toEqual([3072]);
  const found = await store.search({ scopes: [scope], query: 'cellos', touch: false });
  expect(found.map((m) => m.content)).toEqual(['The user plays the cello in an orchestra.']);
  // No keyword of this one survives (anyWordTsQuery): only the vector retriever can answer it.
  expect((await store.search({ scopes: [scope], query: 'what do you remember about me', touch: false })).map((m) => m.content)).toEqual(['The user plays the cello in an orchestra.']);
  expect((await registry.getSingleMetricAsString('switchboard_memory_retrievals_total'))).toContain('mode="hybrid"');
});
