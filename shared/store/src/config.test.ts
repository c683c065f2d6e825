import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { databaseOptionsFromConfig, loadEmbeddedServerConfig } from './config.ts';

describe('loadEmbeddedServerConfig', () => {
  it('defaults to 127.0.0.1:5433, ./data and 100 connections', () => {
    expect(loadEmbeddedServerConfig({})).toEqual({
      DATA_DIR: resolve('./data'),
      EMBEDDED_DB_PORT: 5433,
      EMBEDDED_DB_HOST: '127.0.0.1',
      EMBEDDED_DB_MAX_CONNECTIONS: 100,
      LOG_LEVEL: 'info',
    });
  });

  it('names the bad variable and not its value', () => {
    const err = (() => {
      try {
        loadEmbeddedServerConfig({ EMBEDDED_DB_PORT: '70000' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('config_error');
    expect((err as Error).message).toContain('EMBEDDED_DB_PORT');
    expect((err as Error).message).not.toContain('70000');
  });
});

describe('databaseOptionsFromConfig', () => {
  it('prefers DATABASE_URL, else PGlite under DATA_DIR/pglite', () => {
    expect(databaseOptionsFromConfig({ DATABASE_URL: 'postgres://x/y', DATA_DIR: '/d' })).toEqual({ databaseUrl: 'postgres://x/y' });
    expect(databaseOptionsFromConfig({ DATA_DIR: '/d' })).toEqual({ dataDir: '/d/pglite' });
    expect(databaseOptionsFromConfig({})).toEqual({ dataDir: resolve('./data/pglite') });
  });
});
