export { parseEnv, optionalString, csv, int, logLevel, urlString } from './parse.ts';
export type { Env } from './parse.ts';
export { CommonEnv, loadCommonConfig } from './common.ts';
export type { CommonConfig } from './common.ts';
