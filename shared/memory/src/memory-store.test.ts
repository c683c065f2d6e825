import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';
import { Redis } from 'ioredis';
import { startRedisServer } from '@switchboard/testkit';
import { anyInScopesSql, EMPTY_SCOPES_TTL_MS, MemoryStore } from './memory-store.ts';
import { RedisScopeMarks, type ScopeMarks } from './scope-marks.ts';
import { userScope, type ScopeRef } from './types.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
/** A property of `target`, methods bound to it (its private fields do not resolve through a Proxy). */
const bound = (target: object, name: string | symbol): unknown => {
  const value: unknown = Reflect.get(target, name);
  return typeof value === 'function' ? value.bind(target) : value;
};
let db: Db;
let model: FakeOpenAI;
let hybrid: MemoryStore;
let keyword: MemoryStore;

beforeAll(async () => {
  [db, model] = await Promise.all([openDatabase({}), startFakeOpenAI({ embeddingDimensions: 384 })]);
  const registry = createRegistry({ defaultMetrics: false });
  const embedder = new EmbeddingClient(db, { baseURL: model.url, model: 'fake-embedding', batchSize: 4 }, memoryMetrics(registry), logger);
  hybrid = new MemoryStore(db, { logger, registry, embedder });
  keyword = new MemoryStore(db, { logger, registry });
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

const alice = userScope('web', 'alice');
const bob = userScope('web', 'bob');
const add = (store: MemoryStore, scope: ScopeRef, content: string, extra: { importance?: number; userId?: string } = {}) =>
  store.add({ ...scope, content, source: 'api', userId: extra.userId ?? scope.scopeId.split(':')[1], platform: 'web', ...(extra.importance !== undefined ? { importance: extra.importance } : {}) });

describe('MemoryStore', () => {
  it('finds memories by meaning and keyword, best first, only within the given scopes', async () => {
    await add(hybrid, alice, 'The user lives in Lisbon and works as a marine biologist.');
    await add(hybrid, alice, 'The user prefers answers in bullet points.');
    await add(hybrid, alice, 'The user is allergic to peanuts.');
    await add(hybrid, bob, 'The user lives in Oslo and is allergic to shellfish.');
    const found = await hybrid.search({ scopes: [alice], query: 'where does the user live?' });
    expect(found[0]!.content).toMatch(/Lisbon/);
    expect(found.every((m) => m.scopeId === alice.scopeId)).toBe(true);
    const allergies = await hybrid.search({ scopes: [bob], query: 'allergic' });
    expect(allergies.map((m) => m.content)).toEqual(['The user lives in Oslo and is allergic to shellfish.']);
    expect(found[0]!.lastUsedAt).toBeNull(); // as it was before this search; the search marks it used
    const again = await hybrid.search({ scopes: [alice], query: 'Lisbon', touch: false });
    expect(again[0]!.lastUsedAt).toBeInstanceOf(Date);
  });

  it('merges exact and near duplicates in a scope instead of storing them twice', async () => {
    const scope = userScope('web', 'carol');
    const first = await add(hybrid, scope, 'The user has a dog named Biscuit.', { importance: 0.4 });
    const exact = await add(hybrid, scope, 'the user has a dog named biscuit', { importance: 0.9 });
    expect(exact).toEqual({ id: first.id, outcome: 'merged' });
    const near = await add(hybrid, scope, 'The user has a dog named Biscuit!!');
    expect(near.id).toBe(first.id);
    const reworded = await add(keyword, scope, 'The user has a dog that is named Biscuit.');
    expect(reworded).toEqual({ id: first.id, outcome: 'merged' });
    const other = await add(hybrid, userScope('web', 'dave'), 'The user has a dog named Biscuit.');
    expect(other.id).not.toBe(first.id); // same words, another user: never merged across scopes
    const rows = await hybrid.list([scope]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.importance).toBeCloseTo(0.9);
  });

  it('stores text Postgres cannot hold (U+0000, a lone surrogate, a pair cut at the length limit) as U+FFFD', async () => {
    const scope = userScope('web', 'nul');
    await add(keyword, scope, 'The user\u0000 likes \udc00 tea.');
    await add(keyword, scope, `${'a'.repeat(3999)}\u{1F600} tail`);
    const contents = (await keyword.list([scope])).map((m) => m.content).sort();
    expect(contents).toEqual(['The user\ufffd likes \ufffd tea.', `${'a'.repeat(3999)}\ufffd`]);
  });

  it('keeps at most maxPerScope memories in a scope, dropping the least important, and never the new one', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const small = new MemoryStore(db, { logger, registry, maxPerScope: 3 });
    const scope = userScope('web', 'capped');
    const other = userScope('web', 'capped-other');
    await add(small, other, 'The other user keeps this one.', { importance: 0.1 });
    await add(small, scope, 'The user likes green tea very much.', { importance: 0.9 });
    await add(small, scope, 'The user owns a small sailing boat.', { importance: 0.2 });
    await add(small, scope, 'The user was born in the city of Porto.', { importance: 0.8 });
    await add(small, scope, 'The user plays the cello on weekends.', { importance: 0.1 });
    const kept = (await small.list([scope])).map((m) => m.content).sort();
    expect(kept).toEqual(['The user likes green tea very much.', 'The user plays the cello on weekends.', 'The user was born in the city of Porto.']);
    expect((await small.list([other])).map((m) => m.content)).toEqual(['The other user keeps this one.']);
    const evicted = (await registry.getSingleMetric('switchboard_memory_writes_total')!.get()).values.find((v) => v.labels.outcome === 'evicted');
    expect(evicted?.value).toBe(1);
  });

  it('works keyword-only without an embeddings endpoint, storing no vector', async () => {
    const scope = userScope('web', 'erin');
    expect(keyword.mode).toBe('keyword');
    await add(keyword, scope, 'The user’s favourite band is Radiohead.');
    const { rows } = await db.query<{ embedding: unknown; dims: unknown }>(`SELECT embedding, dims FROM memories WHERE scope_id = $1`, [scope.scopeId]);
    expect(rows).toEqual([{ embedding: null, dims: null }]);
    const found = await keyword.search({ scopes: [scope], query: 'which band do I like?' });
    expect(found.map((m) => m.content)).toEqual(['The user’s favourite band is Radiohead.']);
    expect(await keyword.search({ scopes: [scope], query: 'what is the weather?' })).toEqual([]);
  });

  it('embeds in batches and never sends a cached text again', async () => {
    const texts = Array.from({ length: 10 }, (_, i) => `batch text number ${i}`);
    const before = model.embeddingRequests.length;
    const client = hybrid.embedder!;
    const first = await client.embed(texts, 'frank');
    expect(model.embeddingRequests.length - before).toBe(3); // batchSize 4
    expect(first).toHaveLength(10);
    const second = await client.embed([texts[3]!, 'one new text', texts[7]!], 'frank');
    expect(model.embeddingRequests.length - before).toBe(4);
    expect(model.embeddingRequests.at(-1)!.input).toEqual(['one new text']);
    second[0]!.forEach((v, i) => expect(v).toBeCloseTo(first[3]![i]!, 5));
  });

  it('forgets by id or by words, and only inside the given scopes', async () => {
    const scope = userScope('web', 'gina');
    const kept = await add(hybrid, scope, 'The user plays the cello.');
    const gone = await add(hybrid, scope, 'The user’s locker code is 4417.');
    expect(await hybrid.forget({ scopes: [alice], id: gone.id })).toEqual([]);
    const forgotten = await hybrid.forget({ scopes: [scope], query: 'locker code' });
    expect(forgotten.map((m) => m.id)).toEqual([gone.id]);
    expect((await hybrid.list([scope])).map((m) => m.id)).toEqual([kept.id]);
  });

  it('falls back to keyword search when the embeddings endpoint fails', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const broken = new EmbeddingClient(db, { baseURL: 'http://127.0.0.1:9/v1', model: 'fake-embedding', maxRetries: 0, timeoutMs: 2000 }, memoryMetrics(registry), logger);
    const store = new MemoryStore(db, { logger, registry, embedder: broken });
    const scope = userScope('web', 'hana');
    await add(store, scope, 'The user drives a green tractor.');
    expect((await store.search({ scopes: [scope], query: 'tractor' })).map((m) => m.content)).toEqual(['The user drives a green tractor.']);
    expect(await registry.getSingleMetricAsString('switchboard_memory_retrievals_total')).toMatch(/mode="keyword"} 1/);
  });
});

describe('scopes that hold no memories', () => {
  it('are not searched again for a while, yet a memory any store of this process writes is found at once', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    let queries = 0;
    const counting = new Proxy(db, {
      get: (target, name) => (name === 'query' ? (...args: Parameters<Db['query']>) => (queries++, target.query(...args)) : bound(target, name)),
    });
    const reader = new MemoryStore(counting, { logger, registry });
    const writer = new MemoryStore(counting, { logger, registry });
    const scope = userScope('web', 'iris');
    expect(await reader.search({ scopes: [scope], query: 'favourite colour' })).toEqual([]);
    const afterFirst = queries; // the search and the check that the scope is empty
    expect(await reader.search({ scopes: [scope], query: 'favourite colour' })).toEqual([]);
    expect(await reader.search({ scopes: [scope], query: 'something else entirely' })).toEqual([]);
    expect(queries).toBe(afterFirst);
    await add(writer, scope, "The user's favourite colour is teal.");
    expect((await reader.search({ scopes: [scope], query: 'favourite colour' })).map((m) => m.content)).toEqual(["The user's favourite colour is teal."]);
  });

  it('are told apart from a scope set whose last scope alone holds a memory', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const reader = new MemoryStore(db, { logger, registry });
    const [empty1, empty2, full] = [userScope('web', 'kai'), { scope: 'session' as const, scopeId: 'web:local:kai' }, { scope: 'agent' as const, scopeId: 'probe-agent' }];
    await add(keyword, full, 'The agent answers in haiku when asked for poems.');
    expect(await reader.search({ scopes: [empty1, empty2], query: 'haiku poems' })).toEqual([]);
    expect((await reader.search({ scopes: [empty1, empty2, full], query: 'haiku poems' })).map((m) => m.content)).toEqual(['The agent answers in haiku when asked for poems.']);
  });

  it('are checked through the scope index, even by a generic plan', async () => {
    // Many memories in one scope: an OR of the scopes as one EXISTS plans (generically) as a
    // sequential scan, which reads them all to answer for a scope that has none.
    await db.query(
      `INSERT INTO memories (scope, scope_id, content, content_hash, source) SELECT 'agent', 'crowded-agent', 'fact ' || i, 'crowded-' || i, 'api' FROM generate_series(1, 400) i`,
    );
    await db.query('ANALYZE memories');
    for (const n of [1, 3]) {
      const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (GENERIC_PLAN) ${anyInScopesSql(n)}`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toContain('memories_scope_idx');
      expect(plan).not.toContain('Seq Scan');
    }
    expect(() => anyInScopesSql(0)).toThrow(/at least one scope/);
  });

  it('are looked at again once the answer is old, so a memory another process wrote is found', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const reader = new MemoryStore(db, { logger, registry });
    const scope = userScope('web', 'jonas');
    expect(await reader.search({ scopes: [scope], query: 'bicycle' })).toEqual([]);
    // Written as another process would: straight into the table, past this process' stores.
    await db.query(
      `INSERT INTO memories (scope, scope_id, user_id, platform, kind, content, content_hash, importance, source) VALUES ($1, $2, 'jonas', 'web', 'fact', $3, 'h-jonas', 0.5, 'api')`,
      [scope.scope, scope.scopeId, 'The user rides a red bicycle.'],
    );
    expect(await reader.search({ scopes: [scope], query: 'bicycle' })).toEqual([]);
    await new Promise((r) => setTimeout(r, EMPTY_SCOPES_TTL_MS + 50));
    expect((await reader.search({ scopes: [scope], query: 'bicycle' })).map((m) => m.content)).toEqual(['The user rides a red bicycle.']);
  });
});

describe('scope marks shared between processes', () => {
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  const clients: Redis[] = [];
  const connect = () => {
    const c = new Redis(server.url);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()));
    await server?.stop();
  });
  const counted = () => {
    const counter = { queries: 0 };
    const db2 = new Proxy(db, {
      get: (target, name) => (name === 'query' ? (...args: Parameters<Db['query']>) => (counter.queries++, target.query(...args)) : bound(target, name)),
    });
    return { db: db2, counter };
  };
  const insertAsAnotherProcess = (scope: ScopeRef, content: string, hash: string) =>
    db.query(
      `INSERT INTO memories (scope, scope_id, user_id, platform, kind, content, content_hash, importance, source) VALUES ($1, $2, NULL, 'web', 'fact', $3, $4, 0.5, 'api')`,
      [scope.scope, scope.scopeId, content, hash],
    );

  it('keep "these scopes are empty" past the short wait while unchanged, and a mark ends it at once', async () => {
    const { db: counting, counter } = counted();
    const reader = new MemoryStore(counting, { logger, registry: createRegistry({ defaultMetrics: false }), marks: new RedisScopeMarks(connect(), 'mk1') });
    const otherProcess = new RedisScopeMarks(connect(), 'mk1');
    const scope = userScope('web', 'lena');
    expect(await reader.search({ scopes: [scope], query: 'kayak' })).toEqual([]);
    const afterFirst = counter.queries;
    // Written past every MemoryStore and unmarked: the reader keeps its answer beyond the 2 s a
    // store without marks would (the marks, not the clock, are what it trusts).
    await insertAsAnotherProcess(scope, 'The user paddles a yellow kayak.', 'h-lena');
    await new Promise((r) => setTimeout(r, EMPTY_SCOPES_TTL_MS + 50));
    expect(await reader.search({ scopes: [scope], query: 'kayak' })).toEqual([]);
    expect(counter.queries).toBe(afterFirst);
    // The writing process marks the scope once its write commits: the next search asks again.
    await otherProcess.mark([scope]);
    expect((await reader.search({ scopes: [scope], query: 'kayak' })).map((m) => m.content)).toEqual(['The user paddles a yellow kayak.']);
  });

  it('are given by every write of a store, and marks in another prefix are not seen', async () => {
    const marks = new RedisScopeMarks(connect(), 'mk2');
    const writer = new MemoryStore(db, { logger, registry: createRegistry({ defaultMetrics: false }), marks });
    const scope = userScope('web', 'milo');
    const agent = { scope: 'agent' as const, scopeId: 'mk2-agent' };
    expect(await marks.read([scope, agent])).toEqual(['', '']);
    await add(writer, scope, 'The user keeps bees.');
    const [first] = await marks.read([scope]);
    expect(first).not.toBe('');
    await add(writer, scope, 'The user sells honey at the market.');
    expect((await marks.read([scope, agent]))[0]).not.toBe(first);
    expect((await marks.read([scope, agent]))[1]).toBe('');
    expect(await new RedisScopeMarks(connect(), 'mk-other').read([scope])).toEqual(['']);
    const ttl = await connect().ttl(`mk2:memscope:user:${scope.scopeId}`);
    expect(ttl).toBeGreaterThan(0);
  });

  it('that cannot be read leave the store asking the database every 2 s, as without marks', async () => {
    const { db: counting, counter } = counted();
    const failing: ScopeMarks = { read: () => Promise.reject(new Error('redis is down')), mark: () => Promise.reject(new Error('redis is down')) };
    const store = new MemoryStore(counting, { logger, registry: createRegistry({ defaultMetrics: false }), marks: failing });
    const scope = userScope('web', 'nora');
    expect(await store.search({ scopes: [scope], query: 'violin' })).toEqual([]);
    const afterFirst = counter.queries;
    expect(await store.search({ scopes: [scope], query: 'violin' })).toEqual([]);
    expect(counter.queries).toBe(afterFirst);
    await insertAsAnotherProcess(scope, 'The user plays the violin.', 'h-nora');
    await new Promise((r) => setTimeout(r, EMPTY_SCOPES_TTL_MS + 50));
    expect((await store.search({ scopes: [scope], query: 'violin' })).map((m) => m.content)).toEqual(['The user plays the violin.']);
    // A write whose marking fails still succeeds (it is logged).
    await expect(add(store, scope, 'The user practises every morning.')).resolves.toMatchObject({ outcome: 'created' });
  });
});
