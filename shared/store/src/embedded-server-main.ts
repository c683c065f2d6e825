import { configOrExit, createLogger, onShutdown } from '@switchboard/observability';
import { loadEmbeddedServerConfig } from './config.ts';
import { embeddedDataDir } from './data-dir.ts';
import { startEmbeddedServer } from './embedded-server.ts';

// `npm run db:embedded`: config → logger → server → graceful shutdown on SIGTERM/SIGINT.
const config = configOrExit('db-embedded', () => loadEmbeddedServerConfig());
const logger = createLogger({ service: 'db-embedded', level: config.LOG_LEVEL });
try {
  const dataDir = embeddedDataDir(config.DATA_DIR);
  const server = await startEmbeddedServer({
    dataDir,
    port: config.EMBEDDED_DB_PORT,
    host: config.EMBEDDED_DB_HOST,
    maxConnections: config.EMBEDDED_DB_MAX_CONNECTIONS,
    logger,
  });
  logger.info({ url: server.url, dataDir, maxConnections: config.EMBEDDED_DB_MAX_CONNECTIONS }, 'embedded Postgres (PGlite) listening; use it as DATABASE_URL');
  onShutdown(logger, [['embedded database', () => server.close()]]);
} catch (err) {
  logger.fatal({ err }, 'embedded database failed to start');
  process.exit(1);
}
