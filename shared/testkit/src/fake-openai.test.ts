import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { lastUserMessages, startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts';

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const conversation = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'old question' },
  { role: 'assistant', content: 'old answer' },
  { role: 'user', content: 'first new' },
  { role: 'user', content: [{ type: 'text', text: 'second new' }] },
];

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${fake!.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// Wire-level assertions read loosely typed JSON on purpose.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (res: Response): Promise<any> => res.json();

/** Reads an SSE body into its `data:` payloads (the raw wire, no SDK in between). */
async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

describe('startFakeOpenAI', () => {
  it('lastUserMessages returns the user messages after the last assistant message', () => {
    expect(lastUserMessages({ messages: conversation })).toEqual(['first new', 'second new']);
    expect(lastUserMessages({ messages: [{ role: 'user', content: 'only' }] })).toEqual(['only']);
    expect(lastUserMessages({ messages: [{ role: 'assistant', content: 'x' }] })).toEqual([]);
  });

  it('streams the echo answer as chat.completion.chunk events with a usage chunk and [DONE]', async () => {
    fake = await startFakeOpenAI();
    const res = await post('/chat/completions', {
      model: 'm1',
      messages: conversation,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const data = await sseData(res);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'm1')).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('echo: first new\nsecond new');
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage.prompt_tokens).toBeGreaterThan(0);
    expect(usageChunk.usage.completion_tokens).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.messages).toHaveLength(5);
  });

  it('answers without stream as one chat.completion JSON object', async () => {
    fake = await startFakeOpenAI();
    const res = await post('/chat/completions', { model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    const body = await json(res);
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0].message).toMatchObject({ role: 'assistant', content: 'echo: hi' });
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
  });

  it('streams tool calls as a header chunk plus several argument fragments each', async () => {
    fake = await startFakeOpenAI({
      script: () => ({
        toolCalls: [
          { id: 'call_a', name: 'read_file', arguments: { path: '/tmp/a.txt' } },
          { name: 'web_search', arguments: '{"query":"weather in Oslo"}' },
        ],
      }),
    });
    const data = await sseData(await post('/chat/completions', { model: 'm', messages: conversation, stream: true }));
    const deltas = data
      .slice(0, -1)
      .map((d) => JSON.parse(d))
      .flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    for (const index of [0, 1]) {
      const parts = deltas.filter((d: { index: number }) => d.index === index);
      expect(parts[0].function.name).toBeTruthy();
      expect(parts[0].id).toMatch(/^call_/);
      expect(parts.length).toBeGreaterThanOrEqual(3);
      const args = parts.map((p: { function: { arguments?: string } }) => p.function.arguments ?? '').join('');
      expect(JSON.parse(args)).toEqual(index === 0 ? { path: '/tmp/a.txt' } : { query: 'weather in Oslo' });
    }
    expect(deltas[0].id).toBe('call_a');
    const last = JSON.parse(data.at(-2)!);
    expect(last.choices[0].finish_reason).toBe('tool_calls');
  });

  it('answers scripted errors with status, headers and an OpenAI error body', async () => {
    fake = await startFakeOpenAI({ script: () => ({ status: 429, headers: { 'retry-after': '1' } }) });
    const res = await post('/chat/completions', { model: 'm', messages: conversation });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).error.type).toBe('rate_limit_exceeded');
  });

  it('drops the connection mid-stream after the given number of chunks', async () => {
    fake = await startFakeOpenAI({ script: () => ({ dropAfterChunks: 2, text: 'abcdef', chunkSize: 2 }) });
    const res = await post('/chat/completions', { model: 'm', messages: conversation, stream: true });
    const reader = res.body!.getReader();
    let received = '';
    const decoder = new TextDecoder();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += decoder.decode(value);
        }
      })(),
    ).rejects.toThrow();
    expect(received.match(/^data: /gm)).toHaveLength(2);
    expect(received).not.toContain('[DONE]');
  });

  it('delays the first byte by latencyMs and hangs for hangMs', async () => {
    fake = await startFakeOpenAI({ latencyMs: 120 });
    let started = performance.now();
    await json(await post('/chat/completions', { model: 'm', messages: conversation }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    fake.setLatencyMs(0);
    fake.setScript(() => ({ hangMs: 150, then: { text: 'late' } }));
    started = performance.now();
    const body = await json(await post('/chat/completions', { model: 'm', messages: conversation }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(body.choices[0].message.content).toBe('late');
  });

  it('serves deterministic embeddings (float and base64) through the official SDK', async () => {
    fake = await startFakeOpenAI();
    const sdk = new OpenAI({ apiKey: 'k', baseURL: fake.url, maxRetries: 0 });
    // The SDK asks for base64 by default and decodes it.
    const res = await sdk.embeddings.create({
      model: 'fake-embedding',
      input: ['the cat sat on the mat', 'a cat sat on a mat', 'quantum chromodynamics lecture'],
    });
    expect(fake.embeddingRequests[0]!.encoding_format).toBe('base64');
    const [a, b, c] = res.data.map((d) => d.embedding);
    expect(a).toHaveLength(384);
    const dot = (x: number[], y: number[]): number => x.reduce((s, v, i) => s + v * y[i]!, 0);
    expect(dot(a!, a!)).toBeCloseTo(1, 5);
    expect(dot(a!, b!)).toBeGreaterThan(0.5);
    expect(Math.abs(dot(a!, c!))).toBeLessThan(0.3);
    const again = await post('/embeddings', { model: 'e', input: 'the cat sat on the mat', encoding_format: 'float', dimensions: 384 });
    const floats = (await json(again)).data[0].embedding as number[];
    floats.forEach((v, i) => expect(v).toBeCloseTo(a![i]!, 6));
    const small = await post('/embeddings', { model: 'e', input: 'x', encoding_format: 'float', dimensions: 8 });
    expect((await json(small)).data[0].embedding).toHaveLength(8);
  });

  it('lists models', async () => {
    fake = await startFakeOpenAI({ models: ['a', 'b'] });
    const sdk = new OpenAI({ apiKey: 'k', baseURL: fake.url, maxRetries: 0 });
    const ids: string[] = [];
    for await (const model of sdk.models.list()) ids.push(model.id);
    expect(ids).toEqual(['a', 'b']);
  });

  it('serves 600 concurrent streaming completions', async () => {
    fake = await startFakeOpenAI({ latencyMs: 200, record: false });
    const started = performance.now();
    const texts = await Promise.all(
      Array.from({ length: 600 }, async (_, i) => {
        const res = await post('/chat/completions', {
          model: 'm',
          messages: [{ role: 'user', content: `n${i}` }],
          stream: true,
        });
        const data = await sseData(res);
        return data
          .slice(0, -1)
          .map((d) => JSON.parse(d).choices[0]?.delta.content ?? '')
          .join('');
      }),
    );
    texts.forEach((t, i) => expect(t).toBe(`echo: n${i}`));
    expect(fake.requests).toHaveLength(0);
    // All wait their latency at once rather than one after another.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
