import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  completionChunks,
  completionObject,
  errorBody,
  fakeEmbedding,
  lastUserMessages,
  messageText,
  promptTokens,
  approxTokens,
  sseEvent,
  type CompletionPlan,
  type FakeChatRequest,
  type FakeToolCall,
} from './fake-openai-wire.ts';

/** Usage numbers a scripted answer reports instead of the fake's estimate. */
export interface FakeUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * What the fake answers one chat completion with:
 * - `{ text, chunkSize?, chunkDelayMs?, holdOpenMs? }`: a text answer, split into `chunkSize`-character
 *   deltas; `holdOpenMs` keeps the response open that long after `[DONE]` before ending it;
 * - `{ toolCalls, text? }`: tool calls, each streamed as a header chunk plus several argument fragments;
 * - `{ status, headers?, body? }`: an HTTP error (default body: an OpenAI-style `{ error }`);
 * - `{ hangMs, then? }`: no response at all for `hangMs`, then `then` (default: the echo answer);
 * - `{ dropAfterChunks, text? }`: stream the first `dropAfterChunks` chunks (the role chunk is the
 *   first), then close the socket mid-stream without `[DONE]`;
 * - `{ errorAfterChunks, error?, text? }`: stream the first `errorAfterChunks` chunks, then an
 *   error payload (`data: {"error": …}`, as OpenAI sends when it gives up mid-answer) and end the
 *   response without `[DONE]`;
 * - `{ resetConnection: true }`: destroy the connection before any response.
 */
export type FakeResponse =
  | { text: string; chunkSize?: number; chunkDelayMs?: number; finishReason?: string; usage?: FakeUsage; holdOpenMs?: number }
  | { toolCalls: FakeToolCall[]; text?: string; chunkSize?: number; chunkDelayMs?: number; usage?: FakeUsage }
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { hangMs: number; then?: FakeResponse }
  | { dropAfterChunks: number; text?: string; chunkSize?: number }
  | { errorAfterChunks: number; error?: { message: string; type?: string }; text?: string; chunkSize?: number }
  | { resetConnection: true };

/** Decides the answer to chat completion number `index` (0-based, counted per server). */
export type FakeScript = (body: FakeChatRequest, index: number) => FakeResponse | Promise<FakeResponse>;

/** A recorded `POST /v1/embeddings` body. */
export interface FakeEmbeddingRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
}

export interface FakeOpenAIOptions {
  /** Delay in milliseconds before the first byte of each chat completion. Default 0. */
  latencyMs?: number;
  /** Default: {@link echoScript}. */
  script?: FakeScript;
  /** Embedding length when the request sets no `dimensions`. Default 384. */
  embeddingDimensions?: number;
  /** Ids listed by `GET /v1/models`. Default `['fake-model', 'fake-embedding']`. */
  models?: string[];
  /** Record request bodies in `requests`/`embeddingRequests`. Default true; benchmarks turn it off. */
  record?: boolean;
}

/** A running fake OpenAI-compatible server on 127.0.0.1. */
export interface FakeOpenAI {
  /** Base URL ending in `/v1`, for the SDK's `baseURL`. */
  readonly url: string;
  /** Chat completion request bodies in arrival order. */
  readonly requests: FakeChatRequest[];
  /** Embedding request bodies in arrival order. */
  readonly embeddingRequests: FakeEmbeddingRequest[];
  /** TCP connections accepted so far (keep-alive clients reuse theirs). */
  readonly connections: number;
  /** Replaces the script; `undefined` restores the echo script. */
  setScript(script: FakeScript | undefined): void;
  setLatencyMs(ms: number): void;
  /** Closes the server and every open connection. */
  close(): Promise<void>;
}

/** The default script: `echo: ` + the user messages after the last assistant message, joined with '\n'. */
export const echoScript: FakeScript = (body) => ({ text: `echo: ${lastUserMessages(body).join('\n')}` });

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Starts the fake on 127.0.0.1 with an ephemeral port. */
export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  let script = opts.script ?? echoScript;
  let latencyMs = opts.latencyMs ?? 0;
  const record = opts.record ?? true;
  const dimensions = opts.embeddingDimensions ?? 384;
  const models = opts.models ?? ['fake-model', 'fake-embedding'];
  const requests: FakeChatRequest[] = [];
  const embeddingRequests: FakeEmbeddingRequest[] = [];
  let completionCount = 0;
  const timers = new Set<NodeJS.Timeout>();

  /** Resolves after `ms`, or `false` at once if the client went away meanwhile. */
  const wait = (ms: number, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve(!res.destroyed);
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.off('close', onClose);
        resolve(!res.destroyed);
      }, ms);
      const onClose = (): void => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve(false);
      };
      timers.add(timer);
      res.once('close', onClose);
    });

  async function answer(body: FakeChatRequest, response: FakeResponse, res: ServerResponse): Promise<void> {
    if ('resetConnection' in response) {
      res.socket?.destroy();
      return;
    }
    if ('status' in response) {
      sendJson(res, response.status, response.body ?? errorBody(response.status), response.headers);
      return;
    }
    if ('hangMs' in response) {
      if (!(await wait(response.hangMs, res))) return;
      await answer(body, response.then ?? (await echoScript(body, -1)), res);
      return;
    }
    const toolCalls = 'toolCalls' in response ? response.toolCalls : [];
    const drop = 'dropAfterChunks' in response ? response.dropAfterChunks : 'errorAfterChunks' in response ? response.errorAfterChunks : undefined;
    const scriptedText = 'text' in response ? response.text : undefined;
    const content = scriptedText ?? (drop !== undefined ? `echo: ${lastUserMessages(body).join('\n')}` : '');
    const scripted = 'usage' in response ? response.usage : undefined;
    const completionTokens = approxTokens(content) + toolCalls.reduce((n, c) => n + approxTokens(JSON.stringify(c.arguments)), 0);
    const prompt = scripted?.promptTokens ?? promptTokens(body);
    const completion = scripted?.completionTokens ?? completionTokens;
    const plan: CompletionPlan = {
      id: `chatcmpl-fake${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`,
      model: body.model,
      created: Math.floor(Date.now() / 1000),
      text: content,
      chunkSize: 'chunkSize' in response ? response.chunkSize : undefined,
      toolCalls,
      finishReason: 'finishReason' in response && response.finishReason ? response.finishReason : toolCalls.length > 0 ? 'tool_calls' : 'stop',
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    };
    if (body.stream !== true) {
      if (drop !== undefined) res.socket?.destroy();
      else sendJson(res, 200, completionObject(plan));
      return;
    }
    const events = completionChunks(plan, body.stream_options?.include_usage === true).map(sseEvent);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    if ('errorAfterChunks' in response) {
      const error = response.error ?? { message: 'The server had an error while processing your request.', type: 'server_error' };
      res.end(events.slice(0, Math.max(0, drop!)).join('') + sseEvent({ error }));
      return;
    }
    if (drop !== undefined) {
      const sent = events.slice(0, Math.max(0, drop)).join('');
      // Destroy only after the kernel has the bytes, so the client sees them and then the cut.
      res.write(sent === '' ? ':\n\n' : sent, () => res.socket?.destroy());
      return;
    }
    events.push('data: [DONE]\n\n');
    const delayMs = 'chunkDelayMs' in response ? (response.chunkDelayMs ?? 0) : 0;
    const holdOpenMs = 'holdOpenMs' in response ? (response.holdOpenMs ?? 0) : 0;
    if (delayMs <= 0 && holdOpenMs > 0) {
      res.write(events.join(''));
      if (await wait(holdOpenMs, res)) res.end();
      return;
    }
    if (delayMs <= 0) {
      res.end(events.join(''));
      return;
    }
    for (const event of events) {
      if (res.destroyed) return;
      res.write(event);
      if (!(await wait(delayMs, res))) return;
    }
    res.end();
  }

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: FakeChatRequest;
    try {
      body = JSON.parse(await readBody(req)) as FakeChatRequest;
    } catch {
      sendJson(res, 400, errorBody(400, 'request body is not JSON'));
      return;
    }
    if (typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      sendJson(res, 400, errorBody(400, 'model and messages are required'));
      return;
    }
    const index = completionCount++;
    if (record) requests.push(body);
    let response: FakeResponse;
    try {
      response = await script(body, index);
    } catch (err) {
      sendJson(res, 500, errorBody(500, `fake script threw: ${err instanceof Error ? err.message : String(err)}`), {
        'x-should-retry': 'false',
      });
      return;
    }
    if (latencyMs > 0 && !(await wait(latencyMs, res))) return;
    await answer(body, response, res);
  }

  async function embeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: FakeEmbeddingRequest;
    try {
      body = JSON.parse(await readBody(req)) as FakeEmbeddingRequest;
    } catch {
      sendJson(res, 400, errorBody(400, 'request body is not JSON'));
      return;
    }
    if (record) embeddingRequests.push(body);
    const raw = body.input;
    const inputs: unknown[] = Array.isArray(raw) && !(raw.length > 0 && typeof raw[0] === 'number') ? raw : [raw];
    const size = body.dimensions ?? dimensions;
    let tokens = 0;
    const data = inputs.map((input, index) => {
      const text = typeof input === 'string' ? input : JSON.stringify(input);
      tokens += approxTokens(text);
      const vector = fakeEmbedding(text, size);
      const embedding =
        body.encoding_format === 'base64'
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')
          : Array.from(vector);
      return { object: 'embedding', index, embedding };
    });
    sendJson(res, 200, { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  }

  const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    const handled =
      route === 'POST /v1/chat/completions'
        ? chat(req, res)
        : route === 'POST /v1/embeddings'
          ? embeddings(req, res)
          : route === 'GET /v1/models'
            ? Promise.resolve(
                sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) }),
              )
            : Promise.resolve(sendJson(res, 404, errorBody(404, `no route ${route}`)));
    handled.catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorBody(500, `fake server error: ${String(err)}`));
      else res.destroy();
    });
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    embeddingRequests,
    get connections() {
      return connections;
    },
    setScript(next) {
      script = next ?? echoScript;
    },
    setLatencyMs(ms) {
      latencyMs = ms;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export { lastUserMessages, messageText, fakeEmbedding };
export type { FakeChatRequest, FakeChatMessage, FakeToolCall } from './fake-openai-wire.ts';
