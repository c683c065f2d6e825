import type { Registry } from 'prom-client';
import { storableText, SwitchboardError } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import { GENERIC_PLAN_MARK, isUniqueViolation, type Db, type Queryable } from '@switchboard/store';
import type { EmbeddingClient } from './embeddings.ts';
import type { ScopeMarks } from './scope-marks.ts';
import { memoryMetrics, type MemoryMetrics } from './metrics.ts';
import { anyWordTsQuery, contentHash, normalizeMemoryText } from './text.ts';
import { vectorParam, vectorSql } from './vector-param.ts';
import type { MemoryRecord, NewMemory, ScopeRef } from './types.ts';

export interface MemoryStoreOptions {
  logger: Logger;
  registry: Registry;
  /** Without one, memories are stored without vectors and retrieval is keyword-only (logged once). */
  embedder?: EmbeddingClient | undefined;
  /**
   * Change marks shared with the other processes that write memories: "these scopes hold nothing"
   * is then trusted while their marks are unchanged (up to {@link MARKED_EMPTY_SCOPES_TTL_MS})
   * instead of for {@link EMPTY_SCOPES_TTL_MS}, and this store's writes mark their scopes.
   */
  marks?: ScopeMarks | undefined;
  /** Cosine similarity at or above which a new memory merges into an existing one. Default 0.9. */
  mergeSimilarity?: number;
  /** Word-set (Jaccard) similarity at or above which memories merge without vectors. Default 0.8. */
  mergeWordSimilarity?: number;
  /** Half-life of the recency weight, in days. Default 30. */
  recencyHalfLifeDays?: number;
  /** Candidates each retriever (vector, keyword) contributes before fusion. Default 40. */
  candidates?: number;
  /** Most memories one scope keeps; a new one beyond it evicts the least important. Default {@link MAX_MEMORIES_PER_SCOPE}. */
  maxPerScope?: number;
}

/**
 * Memories one scope (a person, a group session) keeps. Extraction adds facts every turn; without
 * a bound a long-lived scope grows forever, and every search and merge check reads it. Beyond it
 * the least important memory goes (ties: the one least recently used or updated).
 */
export const MAX_MEMORIES_PER_SCOPE = 2000;

/**
 * How long "these scopes hold no memories" is trusted without looking again. Memories written
 * through any MemoryStore of this process on the same Db end it at once; one written by another
 * process (a tool runner of its own) is found once the answer is older than this.
 */
export const EMPTY_SCOPES_TTL_MS = 2000;
/**
 * How long "these scopes hold no memories" is trusted by a store with {@link ScopeMarks}, while
 * the scopes' marks are unchanged: every MemoryStore write marks its scopes, so this bounds only
 * writes made past MemoryStore (an operator's SQL, or a writer started without marks).
 */
export const MARKED_EMPTY_SCOPES_TTL_MS = 60_000;
interface SeenScopes {
  empty: boolean;
  atMs: number;
  /** The scopes' marks, read before the question was asked (undefined without marks). */
  marks: string | undefined;
}
/**
 * Per database: scope sets (see `scopesKey`) → whether they held any memory and when that was
 * seen, and a count of writes (an answer read across a write is not kept).
 */
const scopeContents = new WeakMap<Db, { writes: number; seen: Map<string, SeenScopes> }>();
const scopesKey = (scopes: readonly ScopeRef[]) => scopes.map((s) => `${s.scope}\u0000${s.scopeId}`).join('\u0001');

const anyInScopes = new Map<number, string>();
/**
 * Whether any of `n` scopes (parameters `$1, $2` for the first, and so on) holds a memory: one
 * probe of `memories_scope_idx` per scope. Each probe asks for the scope's newest row in the
 * index's order, so once the table has rows its plan takes the index whatever the values (on an
 * empty table it scans nothing), and the statement may keep a generic plan (no planning per
 * call). An `EXISTS` over the scopes ORed together is planned for every call, and as a generic
 * plan it is a sequential scan, which for a scope with no memories reads the whole table. Measured in PGlite with 5,000 memories in other scopes: ~1.7 ms of CPU per
 * check that way, ~0.13 ms this way (~0.25 against ~0.13 ms on an empty table).
 */
export function anyInScopesSql(n: number): string {
  let sql = anyInScopes.get(n);
  if (sql === undefined) {
    if (n < 1) throw new SwitchboardError('bad_request', 'a memory query needs at least one scope');
    const probes = Array.from(
      { length: n },
      (_, i) => `(SELECT 1 FROM memories WHERE scope = $${2 * i + 1} AND scope_id = $${2 * i + 2} ORDER BY scope, scope_id, created_at DESC LIMIT 1) IS NOT NULL`,
    );
    sql = `${GENERIC_PLAN_MARK} SELECT ${probes.join(' OR ')} AS any`;
    anyInScopes.set(n, sql);
  }
  return sql;
}

/** Reciprocal-rank-fusion constant (Cormack et al.): damps the difference between the top ranks. */
const RRF_K = 60;
const MAX_CONTENT_CHARS = 4000;
const SCOPE_DIMS = new Set<number>();
/** Most dimensions of a `vector` an HNSW index takes (pgvector). */
const HNSW_MAX_DIMS = 2000;

type Row = { id: number; scope: MemoryRecord['scope']; scope_id: string; kind: MemoryRecord['kind']; content: string; importance: number; created_at: Date; last_used_at: Date | null; score?: number };
const toRecord = (r: Row): MemoryRecord => ({
  id: Number(r.id),
  scope: r.scope,
  scopeId: r.scope_id,
  kind: r.kind,
  content: r.content,
  importance: Number(r.importance),
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  ...(r.score !== undefined ? { score: Number(r.score) } : {}),
});
const COLUMNS = 'id, scope, scope_id, kind, content, importance, created_at, last_used_at';

/** `((scope = $n AND scope_id = $n+1) OR …)` for the given scopes, with their parameters appended to `params`. */
function scopeFilter(scopes: readonly ScopeRef[], params: unknown[], alias = ''): string {
  if (scopes.length === 0) throw new SwitchboardError('bad_request', 'a memory query needs at least one scope');
  return `(${scopes
    .map((s) => {
      params.push(s.scope, s.scopeId);
      return `(${alias}scope = $${params.length - 1} AND ${alias}scope_id = $${params.length})`;
    })
    .join(' OR ')})`;
}

function words(text: string): Set<string> {
  return new Set((normalizeMemoryText(text).match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 2));
}
function jaccard(a: Set<string>, b: Set<string>): number {
  let both = 0;
  for (const w of a) if (b.has(w)) both++;
  const union = a.size + b.size - both;
  return union === 0 ? 1 : both / union;
}

/**
 * Long-term memories in Postgres: writing with near-duplicate merging, hybrid retrieval (HNSW
 * cosine + full-text rank, fused by reciprocal rank, weighted by importance and recency), and
 * forgetting. Every read and write names its scopes; nothing crosses them.
 */
export class MemoryStore {
  readonly db: Db;
  readonly embedder: EmbeddingClient | undefined;
  readonly metrics: MemoryMetrics;
  private readonly log: Logger;
  private readonly marks: ScopeMarks | undefined;
  private readonly opts: Required<Omit<MemoryStoreOptions, 'embedder' | 'logger' | 'registry' | 'marks'>>;

  constructor(db: Db, opts: MemoryStoreOptions) {
    this.db = db;
    this.embedder = opts.embedder;
    this.marks = opts.marks;
    this.metrics = memoryMetrics(opts.registry);
    this.log = opts.logger.child({ component: 'memory' });
    this.opts = {
      mergeSimilarity: opts.mergeSimilarity ?? 0.9,
      mergeWordSimilarity: opts.mergeWordSimilarity ?? 0.8,
      recencyHalfLifeDays: opts.recencyHalfLifeDays ?? 30,
      candidates: opts.candidates ?? 40,
      maxPerScope: opts.maxPerScope ?? MAX_MEMORIES_PER_SCOPE,
    };
  }

  /** Forgets which scope sets were seen empty (after a write: they may not be any more). */
  noteWritten(): void {
    const known = this.scopeContents();
    known.writes++;
    known.seen.clear();
  }

  /**
   * After a write to `scopes` committed: forgets what this process saw, and gives the scopes new
   * marks so that other processes look again. Never throws: a mark that fails is logged, and
   * readers then find the write within {@link MARKED_EMPTY_SCOPES_TTL_MS}.
   */
  async committed(scopes: readonly ScopeRef[]): Promise<void> {
    this.noteWritten();
    if (!this.marks || scopes.length === 0) return;
    const unique = [...new Map(scopes.map((s) => [scopesKey([s]), { scope: s.scope, scopeId: s.scopeId }])).values()];
    try {
      await this.marks.mark(unique);
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'marking written memory scopes failed; other processes see the write within a minute');
    }
  }

  private scopeContents(): { writes: number; seen: Map<string, SeenScopes> } {
    let known = scopeContents.get(this.db);
    if (!known) {
      known = { writes: 0, seen: new Map() };
      scopeContents.set(this.db, known);
    }
    if (known.seen.size > 10_000) known.seen.clear();
    return known;
  }

  /** `hybrid` with an embeddings endpoint, else `keyword`. */
  get mode(): 'hybrid' | 'keyword' {
    return this.embedder ? 'hybrid' : 'keyword';
  }

  /**
   * Creates the partial HNSW index for vectors of `dims` dimensions if it is missing (the common
   * sizes come with the migration). pgvector's HNSW indexes `vector` of at most
   * {@link HNSW_MAX_DIMS} dimensions; wider vectors (text-embedding-3-large: 3072) are stored and
   * searched without one, by an exact scan of the searched scopes' rows (a scope is bounded).
   */
  async ensureVectorIndex(dims: number): Promise<void> {
    if (SCOPE_DIMS.has(dims)) return;
    if (!Number.isInteger(dims) || dims < 1 || dims > 16000) throw new SwitchboardError('remote_error', `embedding has ${dims} dimensions`);
    if (dims > HNSW_MAX_DIMS) {
      this.log.warn({ dims }, `embeddings of more than ${HNSW_MAX_DIMS} dimensions have no HNSW index: vector search scans the searched scopes exactly (EMBEDDING_DIMENSIONS can ask for fewer)`);
      SCOPE_DIMS.add(dims);
      return;
    }
    await this.db.query(`CREATE INDEX IF NOT EXISTS memories_embedding_${dims}_idx ON memories USING hnsw ((embedding::vector(${dims})) vector_cosine_ops) WHERE dims = ${dims}`);
    SCOPE_DIMS.add(dims);
  }

  /**
   * Embeds memories' texts (owner = the memory's user), or returns undefined vectors when there is
   * no embeddings endpoint or it fails (the memory is then found by keyword only, and the log says so).
   */
  async embedFor(memories: readonly NewMemory[]): Promise<Array<number[] | undefined>> {
    if (!this.embedder || memories.length === 0) return memories.map(() => undefined);
    const out: Array<number[] | undefined> = [];
    const byOwner = new Map<string, number[]>();
    memories.forEach((m, i) => {
      const owner = m.userId ?? '';
      byOwner.set(owner, [...(byOwner.get(owner) ?? []), i]);
    });
    try {
      for (const [owner, idx] of byOwner) {
        const vectors = await this.embedder.embed(idx.map((i) => memories[i]!.content), owner);
        idx.forEach((i, k) => (out[i] = vectors[k]));
      }
      for (const v of out) if (v) await this.ensureVectorIndex(v.length);
      return out;
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'embedding memories failed; they are stored for keyword search only');
      return memories.map(() => undefined);
    }
  }

  /** Stores one memory (embedding it first), merging it into a near-duplicate in the same scope. */
  async add(memory: NewMemory): Promise<{ id: number; outcome: 'created' | 'merged' }> {
    const [embedding] = await this.embedFor([memory]);
    let result: { id: number; outcome: 'created' | 'merged' };
    try {
      result = await this.db.transaction((tx) => this.insert(tx, memory, embedding));
    } catch (err) {
      this.noteWritten();
      throw err;
    }
    await this.committed([memory]);
    return result;
  }

  /**
   * Stores a memory inside the caller's transaction with a vector from {@link embedFor}. An exact
   * duplicate (same normalized text in the scope) or a near-duplicate (cosine ≥ mergeSimilarity,
   * or without vectors, word overlap ≥ mergeWordSimilarity) by the same writer is merged: the newer wording wins,
   * importance is the higher of the two.
   */
  async insert(tx: Queryable, memory: NewMemory, embedding: number[] | undefined): Promise<{ id: number; outcome: 'created' | 'merged' }> {
    // Storable after the cut (which may split a surrogate pair): text Postgres rejects must not fail the transaction.
    const content = storableText(memory.content.trim().slice(0, MAX_CONTENT_CHARS));
    if (content === '') throw new SwitchboardError('bad_request', 'a memory needs content');
    this.noteWritten(); // and again after the caller's transaction commits
    const importance = Math.min(1, Math.max(0, memory.importance ?? 0.5));
    const hash = contentHash(content);
    const vector = embedding ? vectorParam(embedding) : null;
    const dims = embedding?.length ?? null;
    const exact = await tx.query<{ id: number }>(
      `UPDATE memories SET importance = greatest(importance, $4), updated_at = now()
       WHERE scope = $1 AND scope_id = $2 AND content_hash = $3 AND user_id IS NOT DISTINCT FROM $5 RETURNING id`,
      [memory.scope, memory.scopeId, hash, importance, memory.userId ?? null],
    );
    if (exact.rows[0]) return this.merged(memory, exact.rows[0].id);
    const near = await this.nearDuplicate(tx, memory, content, embedding);
    if (near !== undefined) {
      try {
        await tx.query(
          `UPDATE memories SET content = $2, content_hash = $3, embedding = ${vectorSql(4)}, dims = $5, embedding_model = $6,
             importance = greatest(importance, $7), kind = $8, updated_at = now(), source_turn_id = coalesce($9, source_turn_id)
           WHERE id = $1`,
          [near, content, hash, vector, dims, embedding ? (this.embedder?.model ?? null) : null, importance, memory.kind ?? 'fact', memory.sourceTurnId ?? null],
        );
        return this.merged(memory, near);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
    const { rows } = await tx.query<{ id: number }>(
      `INSERT INTO memories (scope, scope_id, user_id, platform, session_id, kind, content, content_hash, embedding, dims, embedding_model,
         importance, source_message_id, source_turn_id, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${vectorSql(9)}, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (scope, scope_id, content_hash, user_id) DO UPDATE SET importance = greatest(memories.importance, EXCLUDED.importance), updated_at = now()
       RETURNING id, (xmax = 0) AS created`,
      [
        memory.scope, memory.scopeId, memory.userId ?? null, memory.platform ?? null, memory.sessionId ?? null, memory.kind ?? 'fact', content, hash,
        vector, dims, embedding ? (this.embedder?.model ?? null) : null, importance, memory.sourceMessageId ?? null, memory.sourceTurnId ?? null, memory.source,
      ],
    );
    const row = rows[0] as { id: number; created: boolean };
    if (!row.created) return this.merged(memory, row.id);
    this.metrics.writes.inc({ source: memory.source, outcome: 'created' });
    // The new memory stays; the rest of the scope keeps its most important up to the bound. The
    // count (an index-only walk of the scope) comes first, so the sort runs only for a full scope.
    const { rows: evicted } = await tx.query<{ id: number }>(
      `DELETE FROM memories WHERE (SELECT count(*) FROM memories WHERE scope = $1 AND scope_id = $2) > $4 + 1 AND id IN (
         SELECT id FROM memories WHERE scope = $1 AND scope_id = $2 AND id <> $3
         ORDER BY importance DESC, coalesce(last_used_at, updated_at) DESC, id DESC OFFSET $4) RETURNING id`,
      [memory.scope, memory.scopeId, row.id, this.opts.maxPerScope - 1],
    );
    if (evicted.length > 0) this.metrics.writes.inc({ source: memory.source, outcome: 'evicted' }, evicted.length);
    return { id: Number(row.id), outcome: 'created' };
  }

  private merged(memory: NewMemory, id: number): { id: number; outcome: 'merged' } {
    this.metrics.writes.inc({ source: memory.source, outcome: 'merged' });
    return { id: Number(id), outcome: 'merged' };
  }

  /**
   * A memory of the scope close enough to `content` to take its wording: only one the same person
   * wrote (a group's memories are several people's, and deleting one person's data finds theirs by
   * who wrote them).
   */
  private async nearDuplicate(tx: Queryable, memory: NewMemory, content: string, embedding: number[] | undefined): Promise<number | undefined> {
    if (embedding) {
      const d = embedding.length;
      const { rows } = await tx.query<{ id: number; similarity: number }>(
        // Exact, over the scope's own rows (found through the scope index): a scope is small, and an
        // HNSW walk would visit every other scope's vectors looking for its few.
        `WITH mine AS MATERIALIZED (SELECT id, embedding FROM memories WHERE scope = $1 AND scope_id = $2 AND dims = ${d} AND user_id IS NOT DISTINCT FROM $4),
              q AS (SELECT ${vectorSql(3, d)} AS v)
         SELECT id, 1 - (embedding::vector(${d}) <=> q.v) AS similarity FROM mine, q ORDER BY embedding::vector(${d}) <=> q.v LIMIT 1`,
        [memory.scope, memory.scopeId, vectorParam(embedding), memory.userId ?? null],
      );
      if (rows[0] && Number(rows[0].similarity) >= this.opts.mergeSimilarity) return Number(rows[0].id);
    }
    const tsq = anyWordTsQuery(content);
    if (tsq === '') return undefined;
    const { rows } = await tx.query<{ id: number; content: string }>(
      `SELECT id, content FROM memories, to_tsquery('english', $3) q
       WHERE scope = $1 AND scope_id = $2 AND user_id IS NOT DISTINCT FROM $4 AND tsv @@ q ORDER BY ts_rank_cd(tsv, q) DESC LIMIT 5`,
      [memory.scope, memory.scopeId, tsq, memory.userId ?? null],
    );
    const mine = words(content);
    const best = rows.map((r) => ({ id: Number(r.id), sim: jaccard(mine, words(r.content)) })).sort((a, b) => b.sim - a.sim)[0];
    return best && best.sim >= this.opts.mergeWordSimilarity ? best.id : undefined;
  }

  /** The scopes' marks as one string; undefined without marks or when reading them failed (then the short TTL applies). */
  private async readMarks(scopes: readonly ScopeRef[]): Promise<string | undefined> {
    if (!this.marks) return undefined;
    try {
      return (await this.marks.read(scopes)).join('\u0001');
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'reading memory scope marks failed; this search asks the database');
      return undefined;
    }
  }

  /**
   * Hybrid search within `scopes`: the nearest vectors (HNSW, cosine) and the best full-text
   * matches, fused by reciprocal rank and weighted by importance and recency. Keyword-only when
   * there is no embeddings endpoint or embedding the query fails. Returned memories are marked used
   * unless `touch` is false.
   */
  async search(input: { scopes: readonly ScopeRef[]; query: string; limit?: number; touch?: boolean }): Promise<MemoryRecord[]> {
    const started = performance.now();
    const limit = input.limit ?? 10;
    // Empty scopes (most, for a new user) cost one cheap probe (anyInScopesSql) instead of a search
    // to plan and a query to embed; the answer is kept a moment, so a busy session asks once per
    // that moment. With marks, the answer is kept while no process has written to these scopes since.
    const known = this.scopeContents();
    const key = scopesKey(input.scopes);
    const writes = known.writes;
    const checkedAt = Date.now();
    // Read before the question is asked: a write that commits after the read changes a mark later.
    const marks = await this.readMarks(input.scopes);
    const seen = known.seen.get(key);
    const ttl = marks === undefined ? EMPTY_SCOPES_TTL_MS : MARKED_EMPTY_SCOPES_TTL_MS;
    if (seen !== undefined && seen.marks === marks && checkedAt - seen.atMs < ttl) {
      if (seen.empty) return [];
    } else {
      const { rows } = await this.db.query<{ any: boolean }>(
        anyInScopesSql(input.scopes.length),
        input.scopes.flatMap((s) => [s.scope, s.scopeId]),
      );
      const empty = !rows[0]!.any;
      if (known.writes === writes) known.seen.set(key, { empty, atMs: checkedAt, marks });
      if (empty) return [];
    }
    let vector: number[] | undefined;
    if (this.embedder && input.query.trim() !== '') {
      try {
        vector = await this.embedder.embedQuery(input.query);
        await this.ensureVectorIndex(vector.length);
      } catch (err) {
        this.log.warn({ err: { message: (err as Error).message } }, 'embedding the memory query failed; this search is keyword-only');
      }
    }
    const tsq = anyWordTsQuery(input.query);
    if (!vector && tsq === '') return [];
    const params: unknown[] = [];
    const k = this.opts.candidates;
    const filter = scopeFilter(input.scopes, params);
    const parts: string[] = [];
    if (vector) {
      const d = vector.length;
      params.push(vectorParam(vector));
      const v = vectorSql(params.length, d);
      parts.push(`SELECT id, row_number() OVER (ORDER BY dist) AS r FROM (
          SELECT id, embedding::vector(${d}) <=> ${v} AS dist FROM memories WHERE dims = ${d} AND ${filter}
          ORDER BY embedding::vector(${d}) <=> ${v} LIMIT ${k}) v`);
    }
    if (tsq !== '') {
      params.push(tsq);
      parts.push(`SELECT id, row_number() OVER (ORDER BY rank DESC, id DESC) AS r FROM (
          SELECT id, ts_rank_cd(tsv, q) AS rank FROM memories, to_tsquery('english', $${params.length}) q
          WHERE tsv @@ q AND ${filter} ORDER BY rank DESC LIMIT ${k}) t`);
    }
    params.push(this.opts.recencyHalfLifeDays, limit);
    const sql = `WITH hits AS (${parts.join(' UNION ALL ')}),
      fused AS (SELECT id, sum(1.0 / (${RRF_K} + r)) AS rrf FROM hits GROUP BY id)
      SELECT m.id, m.scope, m.scope_id, m.kind, m.content, m.importance, m.created_at, m.last_used_at,
        f.rrf * (0.5 + 0.5 * m.importance)
          * (0.7 + 0.3 * power(0.5, extract(epoch FROM now() - greatest(m.created_at, coalesce(m.last_used_at, m.created_at))) / 86400.0 / $${params.length - 1})) AS score
      FROM fused f JOIN memories m ON m.id = f.id
      ORDER BY score DESC, m.id DESC LIMIT $${params.length}`;
    // Iterative HNSW scans (pgvector ≥ 0.8) keep a scope-filtered nearest-neighbour query from
    // coming back short when most of the index belongs to other scopes.
    const rows = vector
      ? await this.db.transaction(async (tx) => {
          await tx.query(`SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', '100', true)`);
          return (await tx.query<Row>(sql, params)).rows;
        })
      : (await this.db.query<Row>(sql, params)).rows;
    this.metrics.retrievals.inc({ mode: vector ? 'hybrid' : 'keyword' });
    this.metrics.retrievalDuration.observe((performance.now() - started) / 1000);
    // The same words stated by two members of a group are two rows (one per writer): shown once.
    const shown = new Set<string>();
    const found = rows.map(toRecord).filter((m) => {
      const key = `${m.scope}\u0000${m.scopeId}\u0000${m.content}`;
      return !shown.has(key) && Boolean(shown.add(key));
    });
    if ((input.touch ?? true) && found.length > 0) {
      // Not awaited: marking memories used must not delay the turn that uses them.
      this.db
        .query(`UPDATE memories SET last_used_at = now(), use_count = use_count + 1 WHERE id = ANY($1::bigint[])`, [found.map((m) => m.id)])
        .catch((err: unknown) => this.log.warn({ err: { message: (err as Error).message } }, 'marking memories used failed'));
    }
    return found;
  }

  /** The newest memories of `scopes`. */
  async list(scopes: readonly ScopeRef[], limit = 50): Promise<MemoryRecord[]> {
    const params: unknown[] = [];
    const filter = scopeFilter(scopes, params);
    params.push(limit);
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM memories WHERE ${filter} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`, params);
    return rows.map(toRecord);
  }

  /**
   * Deletes memories within `scopes`: the one with `id`, or those matching every word of `query`
   * (at most `limit`). Returns what was deleted; an id outside the scopes deletes nothing.
   */
  async forget(input: { scopes: readonly ScopeRef[]; id?: number; query?: string; limit?: number }): Promise<MemoryRecord[]> {
    const params: unknown[] = [];
    const filter = scopeFilter(input.scopes, params);
    let where: string;
    if (input.id !== undefined) {
      params.push(input.id);
      where = `id = $${params.length}`;
    } else if (input.query && input.query.trim() !== '') {
      // Storable text: U+0000 (valid in a tool call's JSON) would fail the statement.
      params.push(storableText(input.query));
      where = `tsv @@ plainto_tsquery('english', $${params.length})`;
    } else {
      throw new SwitchboardError('bad_request', 'forget needs an id or a query');
    }
    params.push(input.limit ?? 5);
    const { rows } = await this.db.query<Row>(
      `DELETE FROM memories WHERE id IN (SELECT id FROM memories WHERE ${filter} AND ${where} ORDER BY id LIMIT $${params.length}) RETURNING ${COLUMNS}`,
      params,
    );
    return rows.map(toRecord);
  }
}
