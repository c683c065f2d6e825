import { z } from 'zod';
import { CommonEnv, int, parseEnv, type Env } from '@switchboard/config';

/** The one-process system's own settings; each service also parses the same environment itself. */
export const AllInOneEnv = CommonEnv.extend({
  PORT: int(8080, { min: 0, max: 65535 }),
});
export type AllInOneConfig = z.infer<typeof AllInOneEnv> & { dataDir: string };

/** The raw environment, handed to each service's own config parser. */
export const processEnv: Env = process.env;

export function loadAllInOneConfig(env: Env = processEnv): AllInOneConfig {
  const parsed = parseEnv(AllInOneEnv, env);
  return { ...parsed, dataDir: parsed.DATA_DIR ?? './data' };
}
