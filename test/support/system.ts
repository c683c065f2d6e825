import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createLogger } from '@switchboard/observability';
import { startFakeOpenAI, uniquePrefix, type FakeOpenAI, type FakeOpenAIOptions } from '@switchboard/testkit';
import type { ToolPlugin } from '@switchboard/tools';
import { startSystem, type System } from '../../src/system.ts';

export interface TestSystem {
  system: System;
  url: string;
  model: FakeOpenAI;
  prefix: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The real one-process system on a free port, against the test run's Redis (under a unique
 * prefix), a fresh embedded PGlite and a fake model server.
 */
export async function startTestSystem(
  opts: { env?: Record<string, string>; model?: FakeOpenAIOptions; dataDir?: string; prefix?: string; keepData?: boolean; toolPlugins?: readonly ToolPlugin[] } = {},
): Promise<TestSystem> {
  const model = await startFakeOpenAI(opts.model);
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'sb-sys-')));
  const prefix = opts.prefix ?? uniquePrefix('sys');
  const env = {
    PATH: process.env.PATH,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    REDIS_URL: inject('redisUrl'),
    SWITCHBOARD_PREFIX: prefix,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'test-key',
    LLM_MODEL: 'fake-model',
    LLM_MAX_RETRIES: '0',
    TURN_LEASE_MS: '2000',
    // One model call per turn unless a test is about memory: per-turn fact extraction is a second
    // call after the reply, which tests counting or indexing model requests would see.
    MEMORY_EXTRACTION: 'off',
    ...opts.env,
  };
  const system = await startSystem(env, {
    logger: createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...(opts.toolPlugins ? { toolPlugins: opts.toolPlugins } : {}),
  });
  return {
    system,
    url: system.url,
    model,
    prefix,
    dataDir,
    async stop() {
      await system.close();
      await model.close();
      if (!opts.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
