/*
 * Long-term memory benchmark: insert throughput, hybrid query latency (p50/p95) and recall@10 of
 * the vector retriever against exact search, at 100k memories with clustered, anisotropic vectors
 * (the shape real sentence embeddings have). Usage:
 *
 *   npm run bench:memory [-- --count 100000 --dims 384 --queries 200]
 *
 * Against real Postgres with pgvector when DATABASE_URL is set (use a database meant for
 * benchmarks: the run adds its rows, tagged `bench-…`, and deletes them at the end), else an
 * ephemeral embedded PGlite. Writes bench/results/memory-<time>.json and prints a summary.
 *
 * Loading: the bulk of the rows go in with multi-row INSERTs and the HNSW index is built once
 * afterwards (pgvector's advice; when the database already holds other vectors of this size, the
 * index stays and the rows go in through it). Then `insert` is measured on the application's own
 * write path (MemoryStore.insert: exact- and near-duplicate checks, HNSW and GIN maintenance), one
 * memory per transaction, and queries run through MemoryStore.search with the query vector known
 * (no embeddings endpoint in the loop).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import type { EmbeddingClient } from '@switchboard/memory';
import { MemoryStore, userScope, vectorParam, vectorSql, type NewMemory, type ScopeRef } from '@switchboard/memory';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const COUNT = arg('count', 100_000);
const DIMS = arg('dims', 384);
const QUERIES = arg('queries', 200);
const APP_INSERTS = arg('inserts', 1000);
const USERS = Math.max(1, Math.round(COUNT / 200));
const CLUSTERS = 300;
const TAG = `bench-${Date.now().toString(36)}`;
const AGENT = `${TAG}-agent`;

// Deterministic randomness, so two runs measure the same data.
let seed = 0x5eed1234;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function gauss(): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}
function normalize(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}
const randomUnit = () => normalize(Array.from({ length: DIMS }, gauss));

// Real embeddings share a large common component (anisotropy) and sit in topic clusters of very
// different popularity (Zipf); a memory is its topic's centre plus its own noise.
const common = randomUnit();
const centres = Array.from({ length: CLUSTERS }, randomUnit);
const zipf = centres.map((_, i) => 1 / (i + 1) ** 1.1);
const zipfTotal = zipf.reduce((a, b) => a + b, 0);
function pickCluster(): number {
  let r = rand() * zipfTotal;
  for (let i = 0; i < zipf.length; i++) if ((r -= zipf[i]!) <= 0) return i;
  return zipf.length - 1;
}
function sample(cluster: number): number[] {
  const c = centres[cluster]!;
  const noise = 0.9 / Math.sqrt(DIMS);
  return normalize(c.map((x, i) => 0.45 * common[i]! + x + gauss() * noise));
}
const SYL = ['ka', 'lo', 'mi', 'ren', 'sa', 'tor', 'vel', 'quin', 'dra', 'pho', 'zen', 'bri', 'gal', 'nu', 'wex', 'ira'];
const word = (i: number, salt: number) => SYL[(i * 7 + salt) % SYL.length]! + SYL[(i * 13 + salt * 3) % SYL.length]! + SYL[(i * 5 + salt * 11) % SYL.length]!;
const FILLER = ['likes', 'mentioned', 'prefers', 'works on', 'asked about', 'plans', 'owns', 'visited', 'studies', 'dislikes'];
const text = (cluster: number) =>
  `The user ${FILLER[Math.floor(rand() * FILLER.length)]} ${word(cluster, 1)} ${word(cluster, 2)} and ${word(Math.floor(rand() * CLUSTERS), 3)} ${Math.floor(rand() * 1000)}.`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

async function bulkLoad(db: Db, rows: Array<{ scope: ScopeRef; userId: string | null; content: string; vector: number[] }>): Promise<void> {
  const BATCH = 500;
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    await db.query(
      `INSERT INTO memories (scope, scope_id, user_id, platform, content, content_hash, embedding, dims, embedding_model, source)
       SELECT s, sid, u, 'web', c, md5(sid || c), l2_normalize(v::int4[]::vector), ${DIMS}, 'bench', 'api'
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(s, sid, u, c, v)
       ON CONFLICT DO NOTHING`,
      [batch.map((r) => r.scope.scope), batch.map((r) => r.scope.scopeId), batch.map((r) => r.userId), batch.map((r) => r.content), batch.map((r) => vectorParam(r.vector))],
    );
  }
}

async function main(): Promise<void> {
  const logger = createLogger({ service: 'bench-memory', level: 'warn' });
  const registry = createRegistry({ defaultMetrics: false });
  const databaseUrl = process.env.DATABASE_URL;
  const backend = databaseUrl ? 'postgres' : 'pglite';
  const db = await openDatabase(databaseUrl ? { databaseUrl, logger } : { logger });
  const version = (await db.query<{ v: string; pgv: string }>(`SELECT current_setting('server_version') AS v, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgv`)).rows[0]!;
  console.log(`memory bench on ${backend} (Postgres ${version.v}, pgvector ${version.pgv}): ${COUNT} memories × ${DIMS} dims, ${QUERIES} queries`);

  // Data: half the memories in one agent-wide scope (a shared knowledge base), half spread over users.
  const rows: Array<{ scope: ScopeRef; userId: string | null; content: string; vector: number[]; cluster: number }> = [];
  for (let i = 0; i < COUNT; i++) {
    const cluster = pickCluster();
    const agent = i % 2 === 0;
    const user = `${TAG}-u${i % USERS}`;
    rows.push({ scope: agent ? { scope: 'agent', scopeId: AGENT } : userScope('web', user), userId: agent ? null : user, content: text(cluster), vector: sample(cluster), cluster });
  }

  const index = `memories_embedding_${DIMS}_idx`;
  const others = Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM memories WHERE dims = ${DIMS}`)).rows[0]!.n);
  const rebuild = others === 0;
  if (rebuild) await db.query(`DROP INDEX IF EXISTS ${index}`);
  let started = performance.now();
  await bulkLoad(db, rows);
  const bulkSeconds = (performance.now() - started) / 1000;
  console.log(`bulk load: ${COUNT} rows in ${round(bulkSeconds, 1)} s (${Math.round(COUNT / bulkSeconds)} rows/s)`);
  let indexSeconds = 0;
  if (rebuild) {
    started = performance.now();
    await db.transaction(async (tx) => {
      await tx.query(`SET LOCAL maintenance_work_mem = '512MB'`);
      await tx.query(`CREATE INDEX ${index} ON memories USING hnsw ((embedding::vector(${DIMS})) vector_cosine_ops) WHERE dims = ${DIMS}`);
    });
    indexSeconds = (performance.now() - started) / 1000;
    console.log(`HNSW build (m=16, ef_construction=64): ${round(indexSeconds, 1)} s`);
  }
  await db.query(`ANALYZE memories`);

  const queryVectors = new Map<string, number[]>();
  const embedder = {
    model: 'bench',
    embedQuery: async (q: string) => queryVectors.get(q)!,
    embed: async (texts: string[]) => texts.map((t) => queryVectors.get(t) ?? sample(0)),
  } as unknown as EmbeddingClient;
  const store = new MemoryStore(db, { logger, registry, embedder, candidates: 40 });

  // The application's write path, one memory per transaction, through the built index.
  const extra: Array<{ memory: NewMemory; vector: number[] }> = Array.from({ length: APP_INSERTS }, (_, i) => {
    const cluster = pickCluster();
    const user = `${TAG}-u${i % USERS}`;
    return { memory: { ...userScope('web', user), userId: user, platform: 'web', content: `${text(cluster)} (new ${i})`, source: 'api' }, vector: sample(cluster) };
  });
  started = performance.now();
  for (const { memory, vector } of extra) await db.transaction((tx) => store.insert(tx, memory, vector));
  const insertSeconds = (performance.now() - started) / 1000;
  console.log(`insert (MemoryStore.insert, dedupe checks + HNSW + GIN): ${APP_INSERTS} in ${round(insertSeconds, 1)} s = ${Math.round(APP_INSERTS / insertSeconds)}/s`);

  // Queries: a user's turn retrieval (their own memories + the agent's shared ones, ~half the table).
  const latencies: number[] = [];
  let recallSum = 0;
  for (let q = 0; q < QUERIES; q++) {
    const cluster = pickCluster();
    const vector = sample(cluster);
    const query = `what about ${word(cluster, 1)} ${word(cluster, 2)}? (${q})`;
    queryVectors.set(query, vector);
    const scopes: ScopeRef[] = [userScope('web', `${TAG}-u${q % USERS}`), { scope: 'agent', scopeId: AGENT }];
    const t0 = performance.now();
    await store.search({ scopes, query, limit: 10, touch: false });
    latencies.push(performance.now() - t0);
    // recall@10 of the vector retriever exactly as search() runs it, against an exact scan.
    const knn = (exact: boolean) =>
      db.transaction(async (tx) => {
        await tx.query(`SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', '100', true)`);
        if (exact) await tx.query(`SET LOCAL enable_indexscan = off`);
        const { rows: found } = await tx.query<{ id: number }>(
          `SELECT id FROM memories WHERE dims = ${DIMS} AND ((scope = $2 AND scope_id = $3) OR (scope = $4 AND scope_id = $5))
           ORDER BY embedding::vector(${DIMS}) <=> ${vectorSql(1, DIMS)} LIMIT 10`,
          [vectorParam(vector), scopes[0]!.scope, scopes[0]!.scopeId, scopes[1]!.scope, scopes[1]!.scopeId],
        );
        return found.map((r) => Number(r.id));
      });
    const [ann, truth] = [await knn(false), await knn(true)];
    recallSum += ann.filter((id) => truth.includes(id)).length / Math.max(1, truth.length);
  }
  const plan = (
    await db.transaction(async (tx) => {
      await tx.query(`SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)`);
      return tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT id FROM memories WHERE dims = ${DIMS} AND ((scope = 'agent' AND scope_id = $2) OR (scope = 'user' AND scope_id = 'x'))
         ORDER BY embedding::vector(${DIMS}) <=> ${vectorSql(1, DIMS)} LIMIT 40`,
        [vectorParam(sample(0)), AGENT],
      );
    })
  ).rows.map((r) => r['QUERY PLAN']);
  latencies.sort((a, b) => a - b);
  const result = {
    at: new Date().toISOString(),
    backend,
    postgres: version.v,
    pgvector: version.pgv,
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    memories: COUNT,
    dims: DIMS,
    clusters: CLUSTERS,
    users: USERS,
    bulkLoadRowsPerSecond: Math.round(COUNT / bulkSeconds),
    hnswBuildSeconds: round(indexSeconds, 1),
    insertPerSecond: round(APP_INSERTS / insertSeconds, 1),
    queries: QUERIES,
    hybridQueryMs: { p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), max: round(latencies[latencies.length - 1]!) },
    recallAt10: round(recallSum / QUERIES, 3),
    vectorPlan: plan,
    targets: { p95Ms: 20, recallAt10: 0.95, note: 'targets are for real Postgres' },
  };
  console.log(`hybrid query: p50 ${result.hybridQueryMs.p50} ms, p95 ${result.hybridQueryMs.p95} ms; recall@10 ${result.recallAt10}`);
  console.log(`vector plan: ${plan.join(' / ')}`);
  await db.query(`DELETE FROM memories WHERE scope_id LIKE $1`, [`%${TAG}%`]);
  await db.close();
  const dir = join(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `memory-${backend}-${result.at.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

await main();
