import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with `[redacted]` wherever they appear in a log line. */
export const REDACT_PATHS = [
  '*.token',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-telegram-bot-api-secret-token"]',
  '*.raw',
  'raw',
  'config.OPENAI_API_KEY',
  'config.SWITCHBOARD_API_KEYS',
];

/** Creates the process logger: JSON lines on stdout, `service` on every line, secrets redacted. */
export function createLogger(opts: { service: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
