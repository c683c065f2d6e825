/**
 * The start-up log says how the API is protected. With only operator keys
 * (SWITCHBOARD_ADMIN_KEYS) the API takes bearer keys, from anywhere, and refuses a loopback client
 * without one; the log must not claim "loopback only".
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix } from '@switchboard/testkit';
import { loadWebConfig, startWebService, type WebService } from './service.ts';

let web: WebService | undefined;
afterEach(async () => {
  await web?.close();
  web = undefined;
});

describe('the web service start-up log', () => {
  it('names bearer keys as the API’s protection when only operator keys are set', async () => {
    const lines: Array<{ msg?: string; auth?: string }> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg?: string; auth?: string });
        done();
      },
    });
    const config = loadWebConfig({ PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_PREFIX: uniquePrefix('probeauthlog'), SWITCHBOARD_ADMIN_KEYS: 'operator-key-123' });
    web = await startWebService({ config, logger: createLogger({ service: 'test', level: 'info', destination }), registry: createRegistry({ defaultMetrics: false }), redisUrl: inject('redisUrl') });
    // What the API does: a loopback client without a key is refused, one with the key is served.
    expect((await fetch(`${web.url}/v1/schedules`)).status).toBe(401);
    expect((await fetch(`${web.url}/v1/schedules`, { headers: { authorization: 'Bearer operator-key-123' } })).status).toBe(200);
    // What the log says.
    expect(lines.find((l) => l.msg === 'web service listening')?.auth).toBe('bearer keys');
  });
});
