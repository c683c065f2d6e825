import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './http-errors.ts';

/** Who is calling: sessions are scoped to an account, so two API keys never share a session. */
export interface Caller {
  account: string;
  /** An operator key (or the loopback user when no keys are set): the console and admin routes span every account. */
  operator?: boolean;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      caller: Caller;
    }
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** SHA-256 of a secret: equal-length buffers for `timingSafeEqual`, whatever the secrets' lengths. */
export function secretDigest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Bearer-key auth for the API. With keys configured, a request must present one (compared in
 * constant time); without keys, only loopback clients are served (as the operator). `adminKeys`
 * are keys whose holders are operators.
 */
export function apiAuth(keys: string[], adminKeys: string[] = []) {
  const entry = (k: string, operator: boolean) => ({ hash: secretDigest(k), account: `k${secretDigest(k).toString('hex').slice(0, 10)}`, operator });
  const hashed = [...keys.map((k) => entry(k, false)), ...adminKeys.map((k) => entry(k, true))];
  return (req: Request, res: Response, next: NextFunction): void => {
    if (hashed.length === 0) {
      if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) {
        sendError(res, 403, 'forbidden', 'no API keys are configured (SWITCHBOARD_API_KEYS), so only loopback clients are served');
        return;
      }
      res.locals.caller = { account: 'local', operator: true };
      next();
      return;
    }
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) {
      sendError(res, 401, 'unauthorized', 'missing bearer token');
      return;
    }
    const presented = secretDigest(match[1]!.trim());
    // Every key is compared, so the time taken does not tell which list (if any) holds it.
    let found: (typeof hashed)[number] | undefined;
    // A key in both lists is an operator's: the admin entry wins.
    for (const k of hashed) if (timingSafeEqual(k.hash, presented) && (!found || k.operator)) found = k;
    if (!found) {
      sendError(res, 401, 'unauthorized', 'invalid bearer token');
      return;
    }
    res.locals.caller = found.operator ? { account: found.account, operator: true } : { account: found.account };
    next();
  };
}
