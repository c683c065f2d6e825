import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLogger, createRegistry } from '@switchboard/observability';
import { openDatabase, type Db } from '@switchboard/store';
import { EmbeddingClient } from './embeddings.ts';
import { memoryMetrics } from './metrics.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let db: Db;
let server: Server | undefined;
beforeAll(async () => {
  db = await openDatabase({});
});
afterAll(async () => {
  await db?.close();
});
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** An embeddings endpoint that answers 429 with `Retry-After: <retryAfterS>` until that time has passed since its first answer. */
async function rateLimited(retryAfterS: number): Promise<{ url: string; requests: number[] }> {
  const requests: number[] = [];
  let limitedUntil: number | undefined;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const now = Date.now();
      requests.push(now);
      limitedUntil ??= now + retryAfterS * 1000;
      if (now < limitedUntil) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterS) });
        res.end('{"error":{"message":"Rate limit reached","type":"requests"}}');
        return;
      }
      const input = (JSON.parse(body) as { input: string[] }).input;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: input.map((_, index) => ({ index, embedding: [1, 0, 0, 0] })) }));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, requests };
}

// Retrying before the time the server asked for is bound to be refused again: the retries were
// spent (and the memory stored without a vector, for good) while the server said when to come back.
it('waits the Retry-After of a 429 before retrying an embeddings request', async () => {
  const { url, requests } = await rateLimited(1);
  const client = new EmbeddingClient(db, { baseURL: url, model: 'm-wait' }, memoryMetrics(createRegistry({ defaultMetrics: false })), logger);
  expect(await client.embed(['The user likes tea.'], 'u1')).toEqual([[1, 0, 0, 0]]);
  expect(requests).toHaveLength(2);
  expect(requests[1]! - requests[0]!).toBeGreaterThanOrEqual(950);
});

it('gives up at once when the server asks for a longer wait than is worth it, instead of retrying early', async () => {
  const { url, requests } = await rateLimited(120);
  const client = new EmbeddingClient(db, { baseURL: url, model: 'm-long' }, memoryMetrics(createRegistry({ defaultMetrics: false })), logger);
  await expect(client.embed(['The user likes coffee.'], 'u1')).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
  expect(requests).toHaveLength(1);
});

it("waits a short Retry-After for a search query's embedding too", async () => {
  const { url, requests } = await rateLimited(1);
  const client = new EmbeddingClient(db, { baseURL: url, model: 'm-query' }, memoryMetrics(createRegistry({ defaultMetrics: false })), logger);
  expect(await client.embedQuery('what does the user drink?')).toEqual([1, 0, 0, 0]);
  expect(requests).toHaveLength(2);
});
