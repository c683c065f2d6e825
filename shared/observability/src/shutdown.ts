import type { Logger } from 'pino';
import { createLogger } from './logger.ts';

/**
 * Runs `steps` in order on SIGTERM/SIGINT, each bounded by the overall deadline, then exits.
 * A second signal exits at once.
 */
export function onShutdown(logger: Logger, steps: Array<[string, () => Promise<void>]>, deadlineMs = 25_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown deadline passed, exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    void (async () => {
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          logger.error({ err, step: name }, 'shutdown step failed');
        }
      }
      logger.info('shutdown complete');
      process.exit(0);
    })();
  };
  // `on`, not `once`: after `once` a second signal would meet no listener and end the process by
  // the signal's default action, which runs no exit hooks (the one-process system's private
  // redis-server would outlive it) and skips the exit code 1 promised above.
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * Loads a process' configuration at start-up. A bad setting ends the process with one fatal log
 * line naming what is wrong (the loaders never echo values) and `exitCode`, instead of an
 * uncaught exception's stack trace.
 */
export function configOrExit<T>(service: string, load: () => T, opts: { exitCode?: number; prefix?: string } = {}): T {
  try {
    return load();
  } catch (err) {
    const message = `${opts.prefix ?? `${service} could not start: `}${(err as Error).message}`;
    createLogger({ service }).fatal(message);
    process.exit(opts.exitCode ?? 2);
  }
}
