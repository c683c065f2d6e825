import type { Redis } from 'ioredis';
import { ToolDefinition } from '@switchboard/contracts';

/**
 * The tools available in a deployment, as published by the tool-runners into Redis; agent workers
 * read it to know what to offer the model. Keyed by tool name.
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

  async publish(tools: ToolDefinition[]): Promise<void> {
    if (tools.length === 0) return;
    const flat: string[] = [];
    for (const t of tools) flat.push(t.name, JSON.stringify(ToolDefinition.parse(t)));
    await this.redis.hset(this.key, ...flat);
    this.cache = undefined;
  }

  async list(): Promise<ToolDefinition[]> {
    if (this.cache && Date.now() - this.cache.atMs < this.cacheMs) return this.cache.tools;
    const raw = await this.redis.hgetall(this.key);
    const tools: ToolDefinition[] = [];
    for (const value of Object.values(raw)) {
      const parsed = ToolDefinition.safeParse(JSON.parse(value));
      if (parsed.success) tools.push(parsed.data);
    }
    tools.sort((a, b) => a.name.localeCompare(b.name));
    this.cache = { atMs: Date.now(), tools };
    return tools;
  }
}
