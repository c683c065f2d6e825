import type { TranscriptEntry } from './transcript.ts';

/** What a turn read of its session's transcript (see TRANSCRIPT_HISTORY_SQL), as the next turn may reuse it. */
export interface CachedHistory {
  /** The fencing token of the turn that committed last on top of this read. */
  fence: number;
  /** The `limit` the history was read with. */
  limit: number;
  /** The session's newest message seq, as of this entry. */
  lastSeq: number;
  summary: string | undefined;
  /** The newest `limit` messages after the summary, oldest first. */
  history: TranscriptEntry[];
  /** The bound of the unsummarized prompt tokens, when `history` may not hold all of them. */
  unsummarizedTokensAtMost: number | undefined;
  /**
   * When the database read this history grew from was made (epoch ms): each turn extends the
   * entry it took, so the age limit counts from here, not from the latest write. Unset: from the write.
   */
  readAtMs?: number | undefined;
}

/**
 * Longest an entry is kept. Every change to a transcript is caught without it; it bounds how long a
 * change nobody announced (an operator's hand edit in SQL) can go unseen by a session that keeps talking.
 */
export const HISTORY_CACHE_MAX_AGE_MS = 10 * 60_000;

/** Sizes already counted: an entry stays in a session's history for up to `limit` turns. */
const sizes = new WeakMap<TranscriptEntry, number>();

/** Rough bytes of an entry's strings in memory (UTF-16) plus the objects around them. */
function entryBytes(e: TranscriptEntry): number {
  let bytes = sizes.get(e);
  if (bytes === undefined) {
    bytes = 2 * e.content.length + (e.toolCalls ? 2 * JSON.stringify(e.toolCalls).length : 0) + 2 * (e.toolCallId?.length ?? 0) + 120;
    sizes.set(e, bytes);
  }
  return bytes;
}

function cachedBytes(c: CachedHistory): number {
  return c.history.reduce((n, e) => n + entryBytes(e), 2 * (c.summary?.length ?? 0) + 200);
}

/**
 * The history a worker's last turn of a session read and wrote, so the session's next turn on the
 * same worker skips reading it again (the read is most of the database's work of a short turn).
 *
 * An entry is used only by the claim right after the turn that wrote it: every claim of a session
 * takes the next fencing token, so a claim whose token is the entry's plus one proves no other turn
 * (on any worker) ran in between. Anything else that changes a transcript either makes the next
 * token skip one (deleting a user's data bumps the sessions' tokens) or drops the entry here
 * (compaction, a commit that did not land right after what the turn read). Least recently used
 * entries go first once the entries hold more than `maxBytes`; none is used after `maxAgeMs`.
 */
export class HistoryCache {
  private readonly entries = new Map<string, { value: CachedHistory; bytes: number; at: number }>();
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private bytes = 0;

  constructor(opts: { maxBytes: number; maxAgeMs?: number; now?: () => number }) {
    this.maxBytes = opts.maxBytes;
    this.maxAgeMs = opts.maxAgeMs ?? HISTORY_CACHE_MAX_AGE_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Bytes the entries take, roughly. */
  get size(): number {
    return this.bytes;
  }

  /** The entry for a claim with `fence` reading `limit` messages, if it is still exact; it leaves the cache either way. */
  take(sessionKey: string, fence: number, limit: number): CachedHistory | undefined {
    const found = this.entries.get(sessionKey);
    if (!found) return undefined;
    this.delete(sessionKey);
    const fresh = this.now() - (found.value.readAtMs ?? found.at) <= this.maxAgeMs;
    return fresh && found.value.fence + 1 === fence && found.value.limit === limit ? found.value : undefined;
  }

  set(sessionKey: string, value: CachedHistory): void {
    this.delete(sessionKey);
    const bytes = cachedBytes(value);
    if (bytes > this.maxBytes) return;
    this.entries.set(sessionKey, { value, bytes, at: this.now() });
    this.bytes += bytes;
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= entry.bytes;
    }
  }

  delete(sessionKey: string): void {
    const found = this.entries.get(sessionKey);
    if (!found) return;
    this.entries.delete(sessionKey);
    this.bytes -= found.bytes;
  }
}
