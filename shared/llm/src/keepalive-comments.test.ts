import { createServer, type Server, type ServerResponse } from 'node:http';
import { createLogger } from '@switchboard/observability';
import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { createLlmClient } from './llm-client.ts';

const logger = createLogger({ service: 'llm-test', level: 'silent' });
let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(handler: (res: ServerResponse) => void): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => handler(res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, requests: () => requests };
}

// OpenRouter and other proxies keep a slow stream alive with SSE comments (": OPENROUTER PROCESSING")
// while the model thinks; the inactivity timeout is about a silent connection, not one sending bytes.
it('does not time out a stream kept alive by SSE comments before its first event', async () => {
  const { url, requests } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    let beats = 0;
    const timer = setInterval(() => {
      if (beats++ < 30) {
        res.write(': OPENROUTER PROCESSING\n\n');
        return;
      }
      clearInterval(timer);
      res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'thought it through' }, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`);
    }, 50);
  });
  const client = createLlmClient({ baseURL: url, model: 'slow-thinker', timeoutMs: 500, maxRetries: 0, registry: new Registry(), logger });
  const result = await client.complete({ messages: [{ role: 'user', content: 'think hard' }] });
  expect(result.content).toBe('thought it through');
  expect(requests()).toBe(1);
});

it('still times out a connection that sends nothing at all', async () => {
  const { url } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': one comment, then silence\n\n');
  });
  const client = createLlmClient({ baseURL: url, model: 'silent', timeoutMs: 150, maxRetries: 0, registry: new Registry(), logger });
  await expect(client.complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ code: 'timeout' });
});
