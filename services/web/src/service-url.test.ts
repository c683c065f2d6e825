/**
 * The web service reports (and logs) the URL it listens on; on an IPv6 address
 * (`HOST=::1`) that URL must be usable, i.e. `http://[::1]:<port>`, not `http://::1:<port>`.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from './service.ts';

let web: WebService | undefined;
afterEach(async () => {
  await web?.close();
  web = undefined;
});

describe('the web service URL', () => {
  it('is a working URL when HOST is an IPv6 address', async () => {
    const config = loadWebConfig({ PORT: '0', HOST: '::1', SWITCHBOARD_PREFIX: uniquePrefix('probeurl') });
    web = await startWebService({ config, logger: createLogger({ service: 'test', level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') });
    expect(web.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
  });
});
