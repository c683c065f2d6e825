import { z } from 'zod';
import { issuesText, SwitchboardError } from '@switchboard/contracts';

export type Env = Record<string, string | undefined>;

/**
 * Parses environment variables against a schema once, at start-up. On failure the error names the
 * bad variables and what is wrong with them, never their values (they may be secrets).
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new SwitchboardError('config_error', `invalid configuration: ${issuesText(result.error.issues)}`);
}

/** An optional string env var: empty strings count as unset. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * An optional URL env var whose scheme is one of `protocols` (`'https:'`...), or with
 * `absolutePath` a filesystem path (a Unix socket). A bad value is named, never echoed: URLs
 * carry passwords.
 */
export function urlString(protocols: readonly string[], opts: { absolutePath?: boolean } = {}) {
  const ok = (v: string) => {
    if (opts.absolutePath && v.startsWith('/')) return true;
    try {
      const url = new URL(v);
      return protocols.includes(url.protocol) && url.host !== '';
    } catch {
      return false;
    }
  };
  const what = `a ${protocols.map((p) => `${p}//`).join(' or ')} URL${opts.absolutePath ? ' or an absolute socket path' : ''}`;
  return optionalString.refine((v) => v === undefined || ok(v), { message: `must be ${what}` });
}

/** A comma-separated list env var. */
export const csv = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

/** An integer env var with a default. */
export function int(defaultValue: number, opts: { min?: number; max?: number } = {}) {
  let n = z.coerce.number().int();
  if (opts.min !== undefined) n = n.min(opts.min);
  if (opts.max !== undefined) n = n.max(opts.max);
  return z.preprocess((v) => (v === undefined || v === '' ? defaultValue : v), n);
}

export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .optional()
  .transform((v) => v ?? 'info');
