export { createLogger, REDACT_PATHS } from './logger.ts';
export type { Logger } from './logger.ts';
export { createRegistry, LATENCY_BUCKETS_SECONDS, counter, gauge, histogram } from './metrics.ts';
export { createOpsHandler, startOpsServer } from './ops-server.ts';
export type { OpsHandlerOptions, ReadinessCheck } from './ops-server.ts';
export { configOrExit, onShutdown } from './shutdown.ts';
export { errorBody, jsonErrorHandler, writeError } from './http-errors.ts';
