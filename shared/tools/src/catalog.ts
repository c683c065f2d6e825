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
      this.cache = undefined;
      return;
    }
    if (parsed.length === 0) return;
    const flat: string[] = [];
    for (const t of parsed) flat.push(t.name, JSON.stringify(t));
    await this.redis.hset(this.key, ...flat);
    this.cache = undefined;
  }

  /** Removes `publisher`'s snapshot (a runner shutting down cleanly). */
  async withdraw(publisher: string): Promise<void> {
    await this.redis.multi().del(`${this.key}:snapshot:${publisher}`).srem(`${this.key}:publishers`, publisher).exec();
    this.cache = undefined;
  }

  async list(): Promise<ToolDefinition[]> {
    if (this.cache && Date.now() - this.cache.atMs < this.cacheMs) return this.cache.tools;
    const byName = new Map<string, ToolDefinition>();
    const publishers = (await this.redis.smembers(`${this.key}:publishers`)).sort();
    const snapshots = publishers.length > 0 ? await this.redis.mget(...publishers.map((p) => `${this.key}:snapshot:${p}`)) : [];
    const expired = publishers.filter((_, i) => snapshots[i] === null);
    if (expired.length > 0) await this.redis.srem(`${this.key}:publishers`, ...expired);
    const live = snapshots.filter((s): s is string => s !== null);
    const values: unknown[] = [];
    for (const snapshot of live) values.push(...(JSON.parse(snapshot) as unknown[]));
    if (live.length === 0) for (const value of Object.values(await this.redis.hgetall(this.key))) values.push(JSON.parse(value));
    for (const value of values) {
      const parsed = ToolDefinition.safeParse(value);
      if (parsed.success && !byName.has(parsed.data.name)) byName.set(parsed.data.name, parsed.data);
    }
    const tools = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.cache = { atMs: Date.now(), tools };
    return tools;
  }
}
