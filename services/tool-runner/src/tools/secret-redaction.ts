/**
 * Cutting credentials out of what a remote sent back: a proxy or a hostile server that echoes
 * request headers must not hand them to the model, in any of the forms text commonly re-encodes
 * them in.
 */

/**
 * The base64 (or base64url) characters that encode `text` wherever it sits in a longer encoded
 * blob: one form per byte offset modulo 3, each only the characters that depend on `text` alone
 * (no padding, no character shared with the bytes around it).
 */
function base64Forms(text: string, encoding: 'base64' | 'base64url'): string[] {
  const bytes = Buffer.from(text, 'utf8');
  return [0, 1, 2].map((offset) => {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(encoding).replace(/=+$/, '');
    // Leading characters that mix in the zero bytes, and trailing ones of an incomplete group.
    const start = [0, 2, 3][offset]!;
    const end = Math.floor((offset + bytes.length) / 3) * 4;
    return encoded.slice(start, end);
  });
}

/**
 * What to cut from a response that may echo the credentials: each value and each long part of it
 * ("Bearer <token>": the token alone; "Basic <b64>": also the decoded `user:password` and the
 * password), each as sent and as commonly re-encoded (URL-encoded, JSON-escaped, and base64 or
 * base64url on its own or inside a longer encoded blob). Longest first, so a longer form is cut
 * whole before a part of it.
 */
export function secretNeedles(values: readonly string[]): string[] {
  const parts = values.flatMap((value) => {
    const words = [value, ...value.split(/\s+/)];
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value.trim())?.[1];
    const decoded = basic ? Buffer.from(basic, 'base64').toString('utf8') : undefined;
    // `user:password`: the password is everything after the first colon (it may hold colons itself).
    const colon = decoded?.indexOf(':') ?? -1;
    return decoded ? [...words, decoded, ...(colon >= 0 ? [decoded.slice(0, colon), decoded.slice(colon + 1)] : [])] : words;
  });
  const forms = parts.flatMap((p) => [
    p,
    encodeURIComponent(p),
    JSON.stringify(p).slice(1, -1),
    Buffer.from(p, 'utf8').toString('base64'),
    ...base64Forms(p, 'base64'),
    ...base64Forms(p, 'base64url'),
  ]);
  return [...new Set(forms.filter((f) => f.length >= 8))].sort((x, y) => y.length - x.length);
}

/** A function that replaces every form of every secret in `values` (see {@link secretNeedles}) by `[redacted]`. */
export function secretRedactor(values: readonly string[]): (text: string) => string {
  const needles = secretNeedles(values);
  return (text) => needles.reduce((out, needle) => out.split(needle).join('[redacted]'), text);
}

/** `text` with every form of every secret in `values` replaced by `[redacted]`. */
export function redactSecrets(text: string, values: readonly string[]): string {
  return secretRedactor(values)(text);
}
