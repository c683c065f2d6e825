/**
 * U+0000, and a UTF-16 surrogate without its other half. Postgres stores neither: `text` and
 * `jsonb` refuse U+0000 (SQLSTATE 22021, 22P05), and `jsonb` refuses the `\ud800` escape that
 * `JSON.stringify` writes for an unpaired surrogate (22P02).
 */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this finds
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text as every store (Postgres, Redis' Lua, a model's JSON API) can hold it: U+0000 and unpaired
 * surrogates become U+FFFD, the replacement character, as a UTF-8 decoder does with bytes it
 * cannot read. A webhook, a chat message or a shell tool's output may carry either; without this a
 * turn holding one fails at its commit, again on every retry. Other text is returned as it is.
 */
export function storableText(text: string): string {
  UNSTORABLE.lastIndex = 0;
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE, '\uFFFD') : text;
}

/** {@link storableText} applied to every string of a JSON-like value, object keys included. */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  if (Array.isArray(value)) return value.map(storableJson) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storableJson(v)])) as T;
  }
  return value;
}
