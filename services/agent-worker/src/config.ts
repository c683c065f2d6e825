import { z } from 'zod';
import { CommonEnv, csv, int, parseEnv, type Env } from '@switchboard/config';

export const AgentWorkerEnv = CommonEnv.extend({
  /** Port of the ops server (/healthz, /readyz, /metrics). */
  PORT: int(9101, { min: 0, max: 65535 }),
  /** Platforms whose service consumes an `outbound-<platform>` queue (the web reads the event stream). */
  QUEUED_PLATFORMS: csv.transform((v) => (v.length > 0 ? v : ['telegram', 'slack', 'discord', 'whatsapp'])),
});
export type AgentWorkerConfig = z.infer<typeof AgentWorkerEnv>;

export function loadAgentWorkerConfig(env: Env = process.env): AgentWorkerConfig {
  return parseEnv(AgentWorkerEnv, env);
}
