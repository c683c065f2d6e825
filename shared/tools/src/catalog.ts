import type { Redis } from 'ioredis';
import { ToolDefinition } from '@switchboard/contracts';

/**
 * The tools available in a deployment, as published by the tool-runners into Redis; agent workers
 * read it to know what to offer the model.
 *
 * Each runner publishes its whole current set as a snapshot under its own id, with a time to live
 * it refreshes while it runs; the catalog is the union of the live snapshots. So a tool a runner
 * stops offering (an MCP server dropped it or went away) leaves the catalog at its next publish,
 * and a runner that is gone leaves it when its snapshot expires (at once on a clean shutdown).
 * Snapshots published without an id (older runners) go into one shared hash that is read only
 * while no runner publishes snapshots.
 */
export class ToolCatalog {
  private readonly redis: Redis;
  private readonly key: string;
  private cache: { atMs: number; tools: ToolDefinition[] } | undefined;
  private readonly cacheMs: number;
  /** The read under way, if any, and the {@link generation} it started in. */
  private reading: { generation: number; tools: Promise<ToolDefinition[]> } | undefined;
  /** Counts this instance's own changes: a read that began before one must not be cached. */
  private generation = 0;
  /** The snapshots' text as last read and the tools parsed from it. */
  private parsed: { raw: string; tools: ToolDefinition[] } | undefined;

  /** `cacheMs`: how long a read is reused (default 2000 ms). */
  constructor(redis: Redis, prefix: string, cacheMs = 2000) {
    this.redis = redis;
    this.key = `${prefix}:tools:catalog`;
    this.cacheMs = cacheMs;
  }

  /**
   * Publishes `tools`. With `publisher` (a runner's unique id) they replace that runner's previous
   * snapshot, which lives `ttlSeconds` (default 120) unless published again.
   */
  async publish(tools: ToolDefinition[], opts: { publisher?: string; ttlSeconds?: number } = {}): Promise<void> {
    const parsed = tools.map((t) => ToolDefinition.parse(t));
    if (opts.publisher !== undefined) {
      await this.redis
        .multi()
        .set(`${this.key}:snapshot:${opts.publisher}`, JSON.stringify(parsed), 'EX', opts.ttlSeconds ?? 120)
        .sadd(`${this.key}:publishers`, opts.publisher)
        .exec();
      this.invalidate();
      return;
    }
    if (parsed.length === 0) return;
    const flat: string[] = [];
    for (const t of parsed) flat.push(t.name, JSON.stringify(t));
    await this.redis.hset(this.key, ...flat);
    this.invalidate();
  }

  /** Removes `publisher`'s snapshot (a runner shutting down cleanly). */
  async withdraw(publisher: string): Promise<void> {
    await this.redis.multi().del(`${this.key}:snapshot:${publisher}`).srem(`${this.key}:publishers`, publisher).exec();
    this.invalidate();
  }

  private invalidate(): void {
    this.cache = undefined;
    this.generation++;
  }

  /**
   * The tools, sorted by name; a read is reused for `cacheMs`. Calls that find the cache stale
   * while a read is under way share that read (an agent worker starts many turns at once), and
   * snapshots unchanged since the last read give the same tool objects back, unparsed: the model
   * client keys its encoded tool list on them.
   */
  list(): Promise<ToolDefinition[]> {
    if (this.cache && Date.now() - this.cache.atMs < this.cacheMs) return Promise.resolve(this.cache.tools);
    const generation = this.generation;
    if (this.reading?.generation === generation) return this.reading.tools;
    const tools = this.read(generation).finally(() => {
      if (this.reading?.tools === tools) this.reading = undefined;
    });
    this.reading = { generation, tools };
    return tools;
  }

  private async read(generation: number): Promise<ToolDefinition[]> {
    const publishers = (await this.redis.smembers(`${this.key}:publishers`)).sort();
    const snapshots = publishers.length > 0 ? await this.redis.mget(...publishers.map((p) => `${this.key}:snapshot:${p}`)) : [];
    const expired = publishers.filter((_, i) => snapshots[i] === null);
    if (expired.length > 0) await this.redis.srem(`${this.key}:publishers`, ...expired);
    const live = snapshots.filter((s): s is string => s !== null);
    // Without snapshots, the id-less hash of older runners (its values are one tool each).
    const texts = live.length > 0 ? live : Object.values(await this.redis.hgetall(this.key));
    const raw = `${live.length > 0 ? 'snapshots' : 'hash'}\n${texts.join('\n')}`;
    const tools = this.parsed?.raw === raw ? this.parsed.tools : parseTools(texts, live.length > 0);
    this.parsed = { raw, tools };
    if (generation === this.generation) this.cache = { atMs: Date.now(), tools };
    return tools;
  }
}

/** The valid tools of the snapshots' texts (arrays) or the hash's (one tool each), first of a name kept, sorted by name. */
function parseTools(texts: string[], snapshots: boolean): ToolDefinition[] {
  const byName = new Map<string, ToolDefinition>();
  const values: unknown[] = [];
  for (const text of texts) {
    if (snapshots) values.push(...(JSON.parse(text) as unknown[]));
    else values.push(JSON.parse(text));
  }
  for (const value of values) {
    const parsed = ToolDefinition.safeParse(value);
    if (parsed.success && !byName.has(parsed.data.name)) byName.set(parsed.data.name, parsed.data);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
