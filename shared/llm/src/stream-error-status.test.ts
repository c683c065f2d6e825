import { createServer, type Server } from 'node:http';
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

/** A server that answers every request 200 and then an error event with `error`. */
async function erroring(error: Record<string, unknown>): Promise<{ url: string; models: string[] }> {
  const models: string[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      models.push((JSON.parse(body) as { model: string }).model);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify({ error })}\n\n`);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, models };
}

// vLLM (and proxies such as LiteLLM) report a request they refuse after the 200 head, as an error
// event that states its status: `{"error":{"type":"BadRequestError","code":400,…}}`. Sent again it
// fails again; as an HTTP 400 it would not have been retried or sent to a fallback model.
it('does not retry or fall back on an error event that states a 400', async () => {
  const { url, models } = await erroring({ object: 'error', message: "This model's maximum context length is 8192 tokens", type: 'BadRequestError', param: null, code: 400 });
  const client = createLlmClient({ baseURL: url, model: 'model-a', fallbackModels: ['model-b'], retryBaseDelayMs: 1, registry: new Registry(), logger });
  await expect(client.complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ code: 'remote_error', status: 400, retryable: false });
  expect(models).toEqual(['model-a']);
});

it('does not retry an OpenAI invalid_request_error event', async () => {
  const { url, models } = await erroring({ message: 'Invalid tool schema', type: 'invalid_request_error', code: 'invalid_value' });
  const client = createLlmClient({ baseURL: url, model: 'model-a', retryBaseDelayMs: 1, registry: new Registry(), logger });
  await expect(client.complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ code: 'remote_error', retryable: false });
  expect(models).toEqual(['model-a']);
});

it('still retries an error event of a server that gave up (5xx, or no status stated)', async () => {
  const { url, models } = await erroring({ message: 'overloaded', type: 'server_error', code: '503' });
  const client = createLlmClient({ baseURL: url, model: 'model-a', maxRetries: 1, retryBaseDelayMs: 1, registry: new Registry(), logger });
  await expect(client.complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ code: 'remote_error', retryable: true });
  expect(models).toEqual(['model-a', 'model-a']);
});
