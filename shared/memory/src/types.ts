/** Who a memory belongs to: one user (across their sessions), the agent (every user), or one session. */
export type MemoryScope = 'user' | 'agent' | 'session';

/** One scope to read or write: `user` → `<platform>:<user id>`, `agent` → agent name, `session` → session key. */
export interface ScopeRef {
  scope: MemoryScope;
  scopeId: string;
}

export type MemoryKind = 'fact' | 'preference' | 'note';
export type MemorySource = 'remember' | 'extract' | 'flush' | 'api';

/** A memory to store. */
export interface NewMemory extends ScopeRef {
  content: string;
  kind?: MemoryKind;
  /** 0..1; default 0.5. Raises the memory's rank in retrieval. */
  importance?: number;
  /** The owning user (raw platform user id) and platform, so deleting the user finds it. */
  userId?: string | undefined;
  platform?: string | undefined;
  sessionId?: string | undefined;
  sourceMessageId?: number | undefined;
  sourceTurnId?: string | undefined;
  source: MemorySource;
}

/** A stored memory as retrieval returns it. */
export interface MemoryRecord {
  id: number;
  scope: MemoryScope;
  scopeId: string;
  kind: MemoryKind;
  content: string;
  importance: number;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Fused score (reciprocal rank × importance × recency); only set by search. */
  score?: number;
}

/** The scope of a user's own memories. */
export function userScope(platform: string, userId: string): ScopeRef {
  return { scope: 'user', scopeId: `${platform}:${userId}` };
}
