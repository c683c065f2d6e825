import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

const CONSOLE_DIR = fileURLToPath(new URL('../console/', import.meta.url));

/**
 * Strict enough that an injected transcript could neither run script nor send data anywhere else:
 * only this origin's own script and style files, and requests to this origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `GET /console`: the operator console, a static page. It holds no data and needs no auth; it
 * asks for an API key and sends it only as an `Authorization` header to `/v1/admin/...` (never in
 * a URL, so it stays out of access logs, history and referrers).
 */
export function consoleRouter(): Router {
  const router = Router();
  router.use('/console', (_req, res, next) => {
    res.set({
      'content-security-policy': CSP,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    next();
  });
  router.use('/console', express.static(CONSOLE_DIR, { index: 'index.html', extensions: false, dotfiles: 'ignore' }));
  return router;
}
