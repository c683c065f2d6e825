import { SwitchboardError } from '@switchboard/contracts';
import { parseRetryAfterMs } from '@switchboard/llm';
import type { Logger } from '@switchboard/observability';
import type { Queryable } from '@switchboard/store';
import { vectorParam } from './vector-param.ts';
import { exactHash } from './text.ts';
import type { MemoryMetrics } from './metrics.ts';

/** Default of {@link EmbeddingOptions.maxRetryAfterMs}. */
const DEFAULT_MAX_RETRY_AFTER_MS = 5_000;
/** Longest server-requested wait before retrying a search query's embedding (a turn is waiting; keyword search is the fallback). */
const QUERY_MAX_RETRY_AFTER_MS = 1_000;

/** Query vectors kept in process (insertion order evicts the oldest). */
const QUERY_CACHE_ENTRIES = 256;

/** Where embeddings come from: any OpenAI-compatible `POST /embeddings`. */
export interface EmbeddingOptions {
  /** Base URL ending in `/v1`. */
  baseURL: string;
  apiKey?: string | undefined;
  model: string;
  /** Asked for explicitly when set (`dimensions`, text-embedding-3 and compatible servers). */
  dimensions?: number | undefined;
  /** Most texts per request. Default 64. */
  batchSize?: number;
  /** Per request, in ms. Default 30000. */
  timeoutMs?: number;
  /** Retries after a 408/429/5xx or a connection failure. Default 2. */
  maxRetries?: number;
  /**
   * Longest server-requested wait (`Retry-After`, `retry-after-ms`) waited before a retry, in ms;
   * a longer one fails the request at once (retrying sooner would only be refused again). Default 5000;
   * a search query's embedding waits at most 1000.
   */
  maxRetryAfterMs?: number;
}

/**
 * Embeds texts through an OpenAI-compatible endpoint, in batches, with a cache in Postgres
 * (`embedding_cache`, keyed by owner, model and the text's sha256) so a text is sent at most once.
 * The owner is the user whose text it is ('' for none), so deleting a user deletes their vectors.
 */
export class EmbeddingClient {
  readonly model: string;
  private readonly opts: EmbeddingOptions;
  private readonly db: Queryable;
  private readonly metrics: MemoryMetrics;
  private readonly log: Logger;
  private readonly queryCache = new Map<string, number[]>();

  constructor(db: Queryable, opts: EmbeddingOptions, metrics: MemoryMetrics, logger: Logger) {
    this.db = db;
    this.opts = opts;
    this.model = opts.model;
    this.metrics = metrics;
    this.log = logger.child({ component: 'embeddings' });
  }

  /**
   * The vector of a search query. Not written to the database cache (queries rarely repeat, and a
   * user's questions are not kept beyond their messages); a small in-process cache serves repeats.
   */
  async embedQuery(text: string): Promise<number[]> {
    const key = exactHash(text);
    const hit = this.queryCache.get(key);
    if (hit) {
      this.metrics.embeddingTexts.inc({ source: 'cache' });
      return hit;
    }
    // A turn waits for this one: a server-requested wait over a second costs the search its vector instead.
    const [vector] = await this.request([text], Math.min(QUERY_MAX_RETRY_AFTER_MS, this.opts.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS));
    this.metrics.embeddingTexts.inc({ source: 'api' });
    if (this.queryCache.size >= QUERY_CACHE_ENTRIES) this.queryCache.delete(this.queryCache.keys().next().value!);
    this.queryCache.set(key, vector!);
    return vector!;
  }

  /** One vector per text, in order; cached vectors are not fetched again. */
  async embed(texts: string[], owner: string): Promise<number[][]> {
    if (texts.length === 0) return [];
    const hashes = texts.map(exactHash);
    const unique = [...new Set(hashes)];
    const { rows } = await this.db.query<{ content_hash: string; embedding: number[] }>(
      `UPDATE embedding_cache SET last_used_at = now() WHERE owner = $1 AND model = $2 AND content_hash = ANY($3::text[]) RETURNING content_hash, embedding`,
      [owner, this.model, unique],
    );
    const found = new Map(rows.map((r) => [r.content_hash, r.embedding]));
    const missing = unique.filter((h) => !found.has(h));
    this.metrics.embeddingTexts.inc({ source: 'cache' }, unique.length - missing.length);
    if (missing.length > 0) {
      const textOf = new Map(hashes.map((h, i) => [h, texts[i]!]));
      const batchSize = this.opts.batchSize ?? 64;
      for (let i = 0; i < missing.length; i += batchSize) {
        const batch = missing.slice(i, i + batchSize);
        const vectors = await this.request(batch.map((h) => textOf.get(h)!));
        this.metrics.embeddingTexts.inc({ source: 'api' }, batch.length);
        batch.forEach((h, k) => found.set(h, vectors[k]!));
        await this.db.query(
          `INSERT INTO embedding_cache (owner, model, content_hash, embedding)
           SELECT $1, $2, h, l2_normalize(v::int4[]::vector) FROM unnest($3::text[], $4::text[]) AS u(h, v)
           ON CONFLICT (owner, model, content_hash) DO UPDATE SET last_used_at = now()`,
          [owner, this.model, batch, batch.map((h) => vectorParam(found.get(h)!))],
        );
      }
    }
    return hashes.map((h) => found.get(h)!);
  }

  private async request(input: string[], maxRetryAfterMs = this.opts.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS): Promise<number[][]> {
    const maxRetries = this.opts.maxRetries ?? 2;
    const url = `${this.opts.baseURL.replace(/\/+$/, '')}/embeddings`;
    const body = JSON.stringify({ model: this.model, input, encoding_format: 'float', ...(this.opts.dimensions ? { dimensions: this.opts.dimensions } : {}) });
    for (let attempt = 0; ; attempt++) {
      let failure: SwitchboardError;
      let retryAfterMs: number | undefined;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        if (res.ok) {
          const json = (await res.json()) as { data?: Array<{ index: number; embedding: number[] }> };
          const data = json.data;
          if (!Array.isArray(data) || data.length !== input.length || data.some((d) => !Array.isArray(d.embedding) || d.embedding.length === 0)) {
            throw new SwitchboardError('remote_error', `embeddings ${this.model}: the answer does not hold ${input.length} vectors`);
          }
          this.metrics.embeddingRequests.inc({ outcome: 'ok' });
          return [...data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
        }
        const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
        failure = new SwitchboardError(res.status === 429 ? 'rate_limited' : 'remote_error', `embeddings ${this.model}: HTTP ${res.status}`, { status: res.status, retryable });
        retryAfterMs = parseRetryAfterMs(res.headers);
        await res.body?.cancel();
      } catch (err) {
        if (err instanceof SwitchboardError) {
          this.metrics.embeddingRequests.inc({ outcome: 'error' });
          throw err;
        }
        const timeout = (err as Error).name === 'TimeoutError';
        failure = new SwitchboardError(timeout ? 'timeout' : 'remote_unreachable', `embeddings ${this.model}: ${(err as Error).message}`, { retryable: true, cause: err });
      }
      const tooLong = retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs;
      if (!failure.retryable || attempt >= maxRetries || tooLong) {
        this.metrics.embeddingRequests.inc({ outcome: 'error' });
        throw failure;
      }
      // The server's own wait when it named one: a retry before it would be refused again.
      const delayMs = retryAfterMs ?? 200 * 2 ** attempt;
      this.log.warn({ code: failure.code, status: failure.status, retry: attempt + 1, delayMs }, 'embedding request failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
