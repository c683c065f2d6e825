import { z } from 'zod';
import { CommonEnv, int, parseEnv, type Env } from '@switchboard/config';

export const ToolRunnerEnv = CommonEnv.extend({
  /** Port of the ops server (/healthz, /readyz, /metrics). */
  PORT: int(9102, { min: 0, max: 65535 }),
  /** Largest tool output handed back to the model, in bytes (default 16 KiB). */
  TOOL_OUTPUT_MAX_BYTES: int(16_384, { min: 256 }),
});
export type ToolRunnerConfig = z.infer<typeof ToolRunnerEnv>;

export function loadToolRunnerConfig(env: Env = process.env): ToolRunnerConfig {
  return parseEnv(ToolRunnerEnv, env);
}
