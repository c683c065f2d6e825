import { createServer } from 'node:net';
import { SwitchboardError } from '@switchboard/contracts';
import { createLogger } from '@switchboard/observability';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI, type FakeResponse, type FakeScript } from '@switchboard/testkit';
import { createLlmClient } from './llm-client.ts';
import type { ChatMessage, LlmClientOptions } from './types.ts';

const logger = createLogger({ service: 'llm-test', level: 'silent' });
const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'hello there' },
];
const tools = [
  { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } },
  { name: 'web_search', description: 'Search', parameters: { type: 'object', properties: { query: { type: 'string' } } } },
];

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function setup(script?: FakeScript, opts: Partial<LlmClientOptions> = {}) {
  fake = await startFakeOpenAI(script ? { script } : {});
  const registry = new Registry();
  const client = createLlmClient({
    baseURL: fake.url,
    apiKey: 'test-key',
    model: 'model-a',
    retryBaseDelayMs: 10,
    registry,
    logger,
    ...opts,
  });
  return { client, registry, fake };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  const match = data.values.find(
    (v) => (!('metricName' in v) || v.metricName === name || v.metricName === `${name}_count`) &&
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
  );
  return match?.value ?? 0;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('createLlmClient', () => {
  it('streams text, passing each fragment to onDelta', async () => {
    const { client, fake } = await setup(() => ({ text: 'Hello world, from a stream.', chunkSize: 5 }));
    const deltas: string[] = [];
    const result = await client.complete({ messages, onDelta: (t) => deltas.push(t), maxTokens: 50 });
    expect(result.content).toBe('Hello world, from a stream.');
    expect(deltas.length).toBeGreaterThanOrEqual(5);
    expect(deltas.join('')).toBe(result.content);
    expect(result).toMatchObject({ model: 'model-a', finishReason: 'stop', toolCalls: [] });
    const body = fake.requests[0]!;
    expect(body).toMatchObject({ model: 'model-a', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 50 });
    expect(body.messages).toEqual(messages);
  });

  it('assembles two parallel tool calls streamed in fragments, sending tools as functions', async () => {
    const { client, fake } = await setup(() => ({
      toolCalls: [
        { id: 'call_1', name: 'read_file', arguments: { path: '/etc/hosts' } },
        { id: 'call_2', name: 'web_search', arguments: { query: 'weather in Oslo tomorrow morning' } },
      ],
    }));
    const deltas: string[] = [];
    const result = await client.complete({ messages, tools, onDelta: (t) => deltas.push(t) });
    expect(result.finishReason).toBe('tool_calls');
    expect(result.content).toBe('');
    expect(deltas).toEqual([]);
    expect(result.toolCalls.map((c) => ({ ...c, args: JSON.parse(c.argumentsJson) }))).toEqual([
      { id: 'call_1', name: 'read_file', argumentsJson: expect.any(String), args: { path: '/etc/hosts' } },
      { id: 'call_2', name: 'web_search', argumentsJson: expect.any(String), args: { query: 'weather in Oslo tomorrow morning' } },
    ]);
    expect(fake.requests[0]!.tools).toEqual(
      tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })),
    );
  });

  it("sends each call's own tools: a changed list is not answered with the previous call's JSON", async () => {
    const { client, fake } = await setup(() => ({ text: 'ok' }));
    const wire = (list: typeof tools) => list.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } }));
    const swapped = [tools[0]!, { ...tools[1]!, description: 'Search the web' }];
    await client.complete({ messages, tools });
    await client.complete({ messages, tools: [...tools] }); // the same tool objects in a new array
    await client.complete({ messages, tools: swapped }); // same length, one tool changed
    await client.complete({ messages, tools: [tools[1]!] });
    await client.complete({ messages, tools: [] });
    await client.complete({ messages, tools, maxTokens: 9 });
    expect(fake.requests.map((r) => r.tools)).toEqual([wire(tools), wire(tools), wire(swapped), wire([tools[1]!]), undefined, wire(tools)]);
    expect(fake.requests[5]).toMatchObject({ model: 'model-a', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 9, messages });
  });

  it('counts usage, requests and duration into the registry', async () => {
    const { client, registry } = await setup(() => ({ text: 'ok', usage: { promptTokens: 42, completionTokens: 7 } }));
    const result = await client.complete({ messages });
    await client.complete({ messages });
    expect(result.usage).toEqual({ promptTokens: 42, completionTokens: 7 });
    expect(await metricValue(registry, 'llm_tokens_total', { model: 'model-a', kind: 'prompt' })).toBe(84);
    expect(await metricValue(registry, 'llm_tokens_total', { model: 'model-a', kind: 'completion' })).toBe(14);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'success' })).toBe(2);
    expect(await metricValue(registry, 'llm_request_duration_seconds', { model: 'model-a' })).toBe(2);
  });

  it('waits Retry-After on 429, then succeeds and counts the retry', async () => {
    const { client, registry, fake } = await setup((_, i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '0.2' } } : { text: 'after wait' },
    );
    const started = performance.now();
    const result = await client.complete({ messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(result.content).toBe('after wait');
    expect(fake.requests).toHaveLength(2);
    expect(await metricValue(registry, 'llm_retries_total', { model: 'model-a' })).toBe(1);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'rate_limited' })).toBe(1);
  });

  it('honours retry-after-ms and skips to the fallback when Retry-After is too long', async () => {
    const { client, fake } = await setup(
      (body, i): FakeResponse =>
        i === 0
          ? { status: 503, headers: { 'retry-after-ms': '150' } }
          : body.model === 'model-a'
            ? { status: 429, headers: { 'retry-after': '3600' } }
            : { text: 'fallback' },
      { fallbackModels: ['model-b'] },
    );
    const started = performance.now();
    const result = await client.complete({ messages });
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(result.model).toBe('model-b');
    expect(fake.requests.map((r) => r.model)).toEqual(['model-a', 'model-a', 'model-b']);
  });

  it('after 500 twice falls back to the next model', async () => {
    const { client, registry, fake } = await setup(
      (body) => (body.model === 'model-a' ? { status: 500 } : { text: 'from b' }),
      { fallbackModels: ['model-b', 'model-c'], maxRetries: 1 },
    );
    const result = await client.complete({ messages });
    expect(result).toMatchObject({ content: 'from b', model: 'model-b' });
    expect(fake.requests.map((r) => r.model)).toEqual(['model-a', 'model-a', 'model-b']);
    expect(await metricValue(registry, 'llm_fallbacks_total', { from_model: 'model-a', to_model: 'model-b' })).toBe(1);
    expect(await metricValue(registry, 'llm_retries_total', { model: 'model-a' })).toBe(1);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'remote_error' })).toBe(2);
  });

  it('falls back at once on 404 (model not found)', async () => {
    const { client, fake } = await setup((body) => (body.model === 'model-a' ? { status: 404 } : { text: 'b' }), {
      fallbackModels: ['model-b'],
    });
    expect((await client.complete({ messages })).model).toBe('model-b');
    expect(fake.requests.map((r) => r.model)).toEqual(['model-a', 'model-b']);
  });

  it('throws the last error when every model fails', async () => {
    const { client, fake } = await setup(() => ({ status: 502 }), { fallbackModels: ['model-b'], maxRetries: 1 });
    const err = await rejection(client.complete({ messages }));
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err).toMatchObject({ code: 'remote_error', status: 502, retryable: true });
    expect(fake.requests.map((r) => r.model)).toEqual(['model-a', 'model-a', 'model-b', 'model-b']);
  });

  it('does not retry or fall back on 400', async () => {
    const { client, registry, fake } = await setup(() => ({ status: 400 }), { fallbackModels: ['model-b'] });
    const err = await rejection(client.complete({ messages }));
    expect(err).toMatchObject({ name: 'SwitchboardError', code: 'remote_error', status: 400, retryable: false });
    expect(fake.requests).toHaveLength(1);
    expect(await metricValue(registry, 'llm_retries_total', { model: 'model-a' })).toBe(0);
  });

  it('aborts mid-stream promptly with an AbortError and closes the request', async () => {
    const { client, registry } = await setup(() => ({ text: 'a'.repeat(40), chunkSize: 2, chunkDelayMs: 100 }));
    const controller = new AbortController();
    const deltas: string[] = [];
    const started = performance.now();
    const err = await rejection(
      client.complete({
        messages,
        signal: controller.signal,
        onDelta: (t) => {
          deltas.push(t);
          controller.abort();
        },
      }),
    );
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(deltas).toHaveLength(1);
    // The whole stream would take 2 s; the abort must not wait for it.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'aborted' })).toBe(1);
  });

  it('passes no delta after an abort, even from the part of the answer already received', async () => {
    const { client } = await setup(() => ({ text: 'a'.repeat(40), chunkSize: 2 })); // the whole answer in one write
    const controller = new AbortController();
    const deltas: string[] = [];
    const onDelta = (t: string) => {
      deltas.push(t);
      controller.abort();
    };
    expect(await rejection(client.complete({ messages, signal: controller.signal, onDelta }))).toMatchObject({ name: 'AbortError' });
    expect(deltas).toEqual(['aa']);
  });

  it('keeps the connection of a successful answer whose response ends late', async () => {
    const { client, fake } = await setup(() => ({ text: 'late end', holdOpenMs: 50 }));
    for (let i = 0; i < 3; i++) {
      expect((await client.complete({ messages })).content).toBe('late end');
      await new Promise((resolve) => setTimeout(resolve, 150)); // the response ends, its socket goes back to the pool
    }
    expect(fake.connections).toBe(1);
  });

  it('aborts a retry wait', async () => {
    const { client } = await setup(() => ({ status: 429, headers: { 'retry-after': '30' } }));
    const signal = AbortSignal.timeout(100);
    const started = performance.now();
    expect(await rejection(client.complete({ messages, signal }))).toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('does not retry a stream that broke after a delta was delivered', async () => {
    const { client, fake } = await setup(() => ({ dropAfterChunks: 2, text: 'partial answer', chunkSize: 4 }));
    const deltas: string[] = [];
    const err = await rejection(client.complete({ messages, onDelta: (t) => deltas.push(t) }));
    expect(err).toMatchObject({ code: 'remote_unreachable' });
    expect(deltas).toEqual(['part']);
    expect(fake.requests).toHaveLength(1);
  });

  it('retries a stream that broke before any delta', async () => {
    const { client, fake } = await setup((_, i) => (i === 0 ? { dropAfterChunks: 1 } : { text: 'whole' }));
    const deltas: string[] = [];
    const result = await client.complete({ messages, onDelta: (t) => deltas.push(t) });
    expect(result.content).toBe('whole');
    expect(deltas.join('')).toBe('whole');
    expect(fake.requests).toHaveLength(2);
  });

  it('retries an error payload inside a 200 stream as remote_error, then gives up', async () => {
    const { client, fake, registry } = await setup(() => ({ errorAfterChunks: 1, error: { message: 'overloaded', type: 'server_error' } }), { maxRetries: 1 });
    const err = await rejection(client.complete({ messages }));
    expect(err).toMatchObject({ name: 'SwitchboardError', code: 'remote_error', retryable: true });
    expect((err as Error).message).toContain('overloaded');
    expect(fake.requests).toHaveLength(2);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'remote_error' })).toBe(2);
  });

  it('returns its connection to the pool after each streamed answer', async () => {
    const { client, fake } = await setup(() => ({ text: 'pooled', chunkSize: 2 }));
    for (let i = 0; i < 3; i++) expect((await client.complete({ messages })).content).toBe('pooled');
    expect(fake.connections).toBe(1);
  });

  it('times out a silent server with code timeout', async () => {
    const { client, registry } = await setup(() => ({ hangMs: 5_000 }), { timeoutMs: 150, maxRetries: 1 });
    const started = performance.now();
    const err = await rejection(client.complete({ messages }));
    expect(err).toMatchObject({ code: 'timeout', retryable: true });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'timeout' })).toBe(2);
  });

  it('times out a stream that stalls between chunks', async () => {
    const { client } = await setup(() => ({ text: 'abcdef', chunkSize: 1, chunkDelayMs: 400 }), {
      timeoutMs: 150,
      maxRetries: 0,
    });
    expect(await rejection(client.complete({ messages }))).toMatchObject({ code: 'timeout' });
  });

  it('rethrows an onDelta error unchanged, without retrying', async () => {
    const { client, fake, registry } = await setup(() => ({ text: 'abc', chunkSize: 1 }));
    const boom = new Error('sink closed');
    const err = await rejection(client.complete({ messages, onDelta: () => { throw boom; } }));
    expect(err).toBe(boom);
    expect(fake.requests).toHaveLength(1);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'handler_error' })).toBe(1);
  });

  it('reports connection refused as remote_unreachable after retrying', async () => {
    const port = await closedPort();
    const registry = new Registry();
    const client = createLlmClient({
      baseURL: `http://127.0.0.1:${port}/v1`,
      model: 'model-a',
      maxRetries: 2,
      retryBaseDelayMs: 5,
      registry,
      logger,
    });
    const err = await rejection(client.complete({ messages }));
    expect(err).toBeInstanceOf(SwitchboardError);
    expect(err).toMatchObject({ code: 'remote_unreachable', retryable: true, status: undefined });
    expect(await metricValue(registry, 'llm_retries_total', { model: 'model-a' })).toBe(2);
    expect(await metricValue(registry, 'llm_requests_total', { model: 'model-a', outcome: 'unreachable' })).toBe(3);
  });

  it('shares metrics when two clients use one registry', async () => {
    const { registry } = await setup();
    expect(() => createLlmClient({ model: 'x', registry, logger })).not.toThrow();
    expect(() => createLlmClient({ model: 'y', registry, logger })).not.toThrow();
  });
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
