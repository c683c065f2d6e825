import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** A readiness check: resolves when the dependency is usable, rejects (or times out) when not. */
export type ReadinessCheck = () => Promise<void>;

export interface OpsHandlerOptions {
  registry: Registry;
  /** Named checks run by /readyz; all must pass. */
  readiness: Record<string, ReadinessCheck>;
  /** Per-check deadline in milliseconds (default 2000). */
  checkTimeoutMs?: number;
  /** Returns false while the process is shutting down, so /readyz fails and traffic drains. */
  isAccepting?: () => boolean;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Handles `/healthz`, `/readyz` and `/metrics`; returns false for any other path so the caller can
 * route it elsewhere. Usable as plain node:http handler or inside express.
 */
export function createOpsHandler(opts: OpsHandlerOptions) {
  const timeoutMs = opts.checkTimeoutMs ?? 2000;
  return async function handleOps(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return true;
    }
    if (path === '/readyz') {
      const failures: Record<string, string> = {};
      if (opts.isAccepting && !opts.isAccepting()) failures.shutdown = 'shutting down';
      const results = await Promise.all(
        Object.entries(opts.readiness).map(async ([name, check]) => [name, await runCheck(check, timeoutMs)] as const),
      );
      for (const [name, failure] of results) if (failure !== undefined) failures[name] = failure;
      const ok = Object.keys(failures).length === 0;
      sendJson(res, ok ? 200 : 503, ok ? { status: 'ready' } : { status: 'not_ready', failures });
      return true;
    }
    if (path === '/metrics') {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType });
      res.end(body);
      return true;
    }
    return false;
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts a server that only answers the ops routes (for services without their own HTTP API). */
export async function startOpsServer(opts: OpsHandlerOptions & { port: number; host?: string }): Promise<Server> {
  const handle = createOpsHandler(opts);
  const server = createServer((req, res) => {
    handle(req, res).then(
      (handled) => {
        if (!handled) sendJson(res, 404, { error: { code: 'not_found', message: 'not found' } });
      },
      () => sendJson(res, 500, { error: { code: 'handler_error', message: 'ops handler failed' } }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return server;
}
