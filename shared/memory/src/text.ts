import { createHash } from 'node:crypto';

/** Lower-cased, whitespace-collapsed text without trailing punctuation: what "the same memory" means. */
export function normalizeMemoryText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim().replace(/[.!?;,\s]+$/u, '');
}

/** sha256 (hex) of the normalized text. */
export function contentHash(text: string): string {
  return createHash('sha256').update(normalizeMemoryText(text)).digest('hex');
}

/** sha256 (hex) of the exact text: the embeddings cache key. */
export function exactHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Words too common to make a keyword match mean anything: question words, and "user", which
 * nearly every extracted memory contains ("The user …"). Postgres drops its own stop words too.
 */
const QUESTION_WORDS = new Set(['what', 'whats', 'who', 'whom', 'which', 'when', 'where', 'why', 'how', 'do', 'does', 'did', 'you', 'your', 'tell', 'remember', 'know', 'me', 'my', 'i', 'is', 'are', 'the', 'a', 'an', 'of', 'about', 'please', 'can', 'could', 'user', 'users']);

/**
 * A `to_tsquery` text that matches any of the query's words (OR), so a question finds a memory
 * that shares only some of its words; ranking then prefers memories that share more. Only letters
 * and digits survive, so nothing the user typed can break the tsquery syntax. Empty when the
 * query has no usable words.
 */
export function anyWordTsQuery(query: string, maxWords = 16): string {
  const words = (query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1 && !QUESTION_WORDS.has(w));
  return [...new Set(words)].slice(0, maxWords).join(' | ');
}
