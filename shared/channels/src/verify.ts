import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Compares a presented secret with the expected one in constant time (hashing first equalizes lengths). */
export function secretMatches(given: string | undefined, expected: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

/** Hex HMAC-SHA256 of `data` under `secret`. */
export function hmacSha256Hex(secret: string, data: string | Buffer): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** Whether `given` (for example `sha256=<hex>` or `v0=<hex>`) equals `expected`, in constant time. */
export function signatureMatches(given: string | undefined, expected: string): boolean {
  return secretMatches(given, expected);
}
