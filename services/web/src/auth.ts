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
/**
 * The name part of a `Host` header that someone else's DNS could point at 127.0.0.1: a dotted name
 * other than an IPv4 literal and `localhost`'s own (`*.localhost` never leaves the machine). An IP
 * literal or a single-label name cannot be rebound by another site.
 */
function rebindableHost(host: string): boolean {
  const name = host.startsWith('[') ? '' : host.replace(/:\d*$/, '').replace(/\.$/, '').toLowerCase();
  if (!name.includes('.') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) return false;
  return !name.endsWith('.localhost');
}

/**
 * Without keys the loopback address is the operator's only credential, and any page a browser on
 * this machine shows carries it. Returns why a request must not use it: a `Host` that another
 * site's DNS could name (a page whose own name was rebound to 127.0.0.1: the browser would let it
 * read the answers), or a request another site's page made (an `Origin` other than this server's, or
 * `Sec-Fetch-Site` saying so): a POST without a body needs no CORS preflight.
 */
function foreignPage(req: Request): string | undefined {
  const host = req.get('host');
  // Clients without a Host header (HTTP/1.0) are no browsers.
  if (host !== undefined && rebindableHost(host)) return 'without API keys only requests to a loopback address or name (127.0.0.1, [::1], localhost) are served';
  const site = req.get('sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') return 'without API keys, requests made by another site\'s page are refused';
  const origin = req.get('origin');
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (originHost === undefined || host === undefined || originHost.toLowerCase() !== host.toLowerCase()) return 'without API keys, requests made by another site\'s page are refused';
  }
  return undefined;
}

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
      const foreign = foreignPage(req);
      if (foreign) {
        sendError(res, 403, 'forbidden', foreign);
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
