import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import type { Logger } from '@switchboard/observability';
import { createLogger } from '@switchboard/observability';
import { openPgliteDatabase } from './open-database.ts';
import { SessionScheduler } from './session-scheduler.ts';

/** Options of {@link startEmbeddedServer}. */
export interface EmbeddedServerOptions {
  /** PGlite data dir (see `embeddedDataDir`); unset → ephemeral database deleted on close. */
  dataDir?: string;
  /** TCP port; 0 picks a free one (read it from the returned `port`/`url`). */
  port: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Most concurrent client connections; more are refused with SQLSTATE 53300. Default 100. */
  maxConnections?: number;
  /** Where the PGlite snapshot is cached (see `openDatabase`). */
  templateCacheDir?: string;
  logger?: Logger;
}

/** A running embedded server. */
export interface EmbeddedServer {
  /** `postgres://postgres@host:port/postgres`, usable as DATABASE_URL. */
  url: string;
  /** The port actually bound. */
  port: number;
  /** Live connections and messages waiting for the session. */
  stats(): { connections: number; queuedMessages: number };
  /** Stops accepting, disconnects clients (rolling back their open transactions), shuts PGlite down. */
  close(): Promise<void>;
}

/** A protocol ErrorResponse, so clients report a proper error instead of a dropped socket. */
function errorResponse(sqlstate: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlstate}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'ascii');
  header.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}

/**
 * Serves one PGlite database over the Postgres wire protocol (pglite-socket's connection handler
 * with our own session scheduler, see `SessionScheduler`), so several processes share it through
 * DATABASE_URL. Migrations are applied before it listens. PGlite is a single session underneath:
 * connections take turns per protocol cycle or transaction, and session state (SET, temp tables,
 * named prepared statements) is shared between them.
 */
export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const logger = opts.logger ?? createLogger({ service: 'store', level: 'silent' });
  const host = opts.host ?? '127.0.0.1';
  const maxConnections = opts.maxConnections ?? 100;
  const db = await openPgliteDatabase({
    logger,
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.templateCacheDir ? { templateCacheDir: opts.templateCacheDir } : {}),
  });
  const scheduler = new SessionScheduler(db.pglite, logger);
  const handlers = new Set<PGLiteSocketHandler>();
  const sockets = new Set<Socket>();
  let closing = false;

  const accept = async (socket: Socket): Promise<void> => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (closing || handlers.size >= maxConnections) {
      // Destroy once flushed: a client may keep its half of the socket open after a FATAL error.
      socket.end(errorResponse('53300', closing ? 'server is shutting down' : 'too many connections'), () =>
        socket.destroy(),
      );
      return;
    }
    const handler = new PGLiteSocketHandler({
      // The handler only calls enqueue/clearQueueForHandler/clearTransactionIfNeeded; the declared
      // type is pglite-socket's private class, so it cannot be named structurally.
      queryQueue: scheduler as unknown as PGLiteSocketHandlerOptions['queryQueue'],
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener('close', forget);
    handler.addEventListener('error', forget);
    try {
      await handler.attach(socket);
    } catch (err) {
      forget();
      logger.warn({ err }, 'could not attach client connection');
      socket.destroy();
    }
  };

  const server = createServer((socket) => void accept(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await db.close();
    throw err;
  }
  server.on('error', (err) => logger.error({ err }, 'embedded database server error'));
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `postgres://postgres@${urlHost}:${port}/postgres`;

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    stats: () => ({ connections: handlers.size, queuedMessages: scheduler.getQueueLength() }),
    close() {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...handlers].map((h) => h.detach(true)));
        handlers.clear();
        for (const socket of sockets) socket.destroy();
        await stopped;
        await db.close();
      })();
      return closed;
    },
  };
}
