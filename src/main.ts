import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { System } from './system.ts';

// Node keeps the compiled, type-stripped modules here, so every start after the first skips most
// of the ~1 s of import work (NODE_COMPILE_CACHE, when set, wins). Static imports would be
// evaluated before this line, so everything else is imported below.
enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/switchboard-compile/', import.meta.url)));

// Postgres (PGlite) boots in a worker thread, on the other core, from the first moment: its Node,
// modules and WebAssembly load while this thread imports the rest (~0.2 s before the config is
// even read). Discarded when the config names DATABASE_URL instead.
const { EarlyWorker } = await import('@switchboard/store/early-worker');
const earlyWorker = new EarlyWorker();

const { configOrExit, createLogger, onShutdown } = await import('@switchboard/observability');
const { collectStartupGarbageSoon, ThreadedPgliteDatabase } = await import('@switchboard/store');
const { loadAllInOneConfig, processEnv } = await import('./config.ts');
const { openSystemDatabase } = await import('./database.ts');

const config = configOrExit('switchboard', () => loadAllInOneConfig(processEnv), { exitCode: 1, prefix: 'Switchboard could not start: ' });
const logger = createLogger({ service: 'switchboard', level: config.LOG_LEVEL });
// The embedded database starts in its worker thread while this thread imports the services. The
// import is one long synchronous stretch, so it waits until the worker has its data dir.
let starting!: () => void;
const started = new Promise<void>((resolve) => (starting = resolve));
const database = openSystemDatabase(config, logger, { onStarting: starting, earlyWorker });
database.catch(() => undefined); // awaited (and reported) by startSystem
await Promise.race([started, database.then(() => undefined, () => undefined)]);
// SIGTERM/SIGINT are handled from here on, also while the system is still starting: the default
// action would end the process at once and leave the private redis-server it started running.
// A signal during the start waits for it and then stops the system; a start that fails exits 1
// below (the promise then never settles), one that hangs ends at onShutdown's deadline.
let systemUp!: (system: System) => void;
const upSystem = new Promise<System>((resolve) => (systemUp = resolve));
onShutdown(logger, [['stop the system', async () => (await upSystem).close()]]);
try {
  const { startSystem } = await import('./system.ts');
  const system = await startSystem(processEnv, { logger, database });
  systemUp(system);
  // Start-up's garbage (module loading, wiring) would otherwise stay resident until V8 sees the
  // process idle: collected once the system is up, here and then in PGlite's thread.
  collectStartupGarbageSoon((ms) => {
    const inDatabaseThread = system.db instanceof ThreadedPgliteDatabase ? system.db.collectStartupGarbage() : Promise.resolve();
    inDatabaseThread.then(
      () => logger.debug({ mainThreadMs: Math.round(ms) }, 'collected start-up garbage'),
      (err: unknown) => logger.warn({ err }, 'collecting start-up garbage in the database thread failed'),
    );
  });
} catch (err) {
  logger.fatal({ err: { message: (err as Error).message } }, `Switchboard could not start: ${(err as Error).message}`);
  await database.then((db) => db.close()).catch(() => undefined);
  process.exit(1);
}
