import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { SwitchboardError } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import type * as OpenAIModule from 'openai';
import type OpenAI from 'openai';
import { classifyError, type ClassifiedFailure } from './classify-error.ts';
import { createLlmMetrics, type LlmOutcome } from './metrics.ts';
import { abortError, backoffDelayMs, sleep } from './retry.ts';
import { readEventStream } from './event-stream.ts';
import { StreamAssembler, type StreamChunk } from './stream-assembler.ts';
import { createHttpFetch, NODE_BODY_HEADER, nodeBody } from './http-fetch.ts';
import type { LlmClient, LlmClientOptions, LlmCompletion, LlmRequest, LlmTool } from './types.ts';

type StreamingParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;

type AttemptResult = { ok: true; completion: LlmCompletion } | ({ ok: false } & ClassifiedFailure);

let sdkModule: Promise<typeof OpenAIModule> | undefined;
/** The model clients' HTTP client, shared so they share keep-alive connections. */
let httpFetch: typeof fetch | undefined;

/** The SDK costs ~35 MiB of RSS and ~0.3 s to import, so it loads on the first request, not at start-up. */
function importSdk(): Promise<typeof OpenAIModule> {
  sdkModule ??= import('openai');
  return sdkModule;
}

/** The tool list last encoded, its JSON, and the end of a request body that carries it, as bytes. */
let lastTools: { tools: readonly LlmTool[]; json: string; bodyTail: Buffer } | undefined;

function encodedTools(tools: readonly LlmTool[]): { json: string; bodyTail: Buffer } {
  const last = lastTools;
  if (last && last.tools.length === tools.length && last.tools.every((t, i) => t === tools[i])) return last;
  const json = JSON.stringify(tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })));
  lastTools = { tools: [...tools], json, bodyTail: Buffer.from(`,"tools":${json}}`) };
  return lastTools;
}

/**
 * The tools as a request body's `tools` JSON (native `type: 'function'` tools). The schemas are
 * most of a request body (~7 KB of ~7.5 KB with the built-in tools) and a catalog snapshot serves
 * many turns with the same tool objects, so a list of the same objects as the last call gets the
 * same JSON (the same string, so a caller can key its own work on it).
 */
export function toolsJson(tools: readonly LlmTool[]): string {
  return encodedTools(tools).json;
}

const OUTCOME_BY_CODE: Record<string, LlmOutcome> = {
  remote_error: 'remote_error',
  rate_limited: 'rate_limited',
  timeout: 'timeout',
  remote_unreachable: 'unreachable',
};

/**
 * Creates an {@link LlmClient} for any OpenAI-compatible chat-completions server, built on the
 * official `openai` SDK with the SDK's own retries turned off (ours are counted in metrics and
 * stop once output has been streamed).
 *
 * Per `complete()` call: each model (primary, then `fallbackModels` in order) gets one attempt
 * plus up to `maxRetries` retries on 408, 429, 5xx, connection errors and timeouts, waiting
 * `Retry-After`/`retry-after-ms` when sent, else exponential backoff with jitter. A model whose
 * retries are exhausted, that answers 404 (model not found), or that asks for a wait longer than
 * `maxRetryAfterMs` hands over to the next fallback model; after the last model the last error is
 * thrown. Other 4xx answers fail at once. Nothing is retried once `onDelta` has been called.
 *
 * The SDK is imported on the first request, so an idle process without LLM traffic never loads it.
 */
export function createLlmClient(opts: LlmClientOptions): LlmClient {
  const maxRetries = opts.maxRetries ?? 2;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const baseDelayMs = opts.retryBaseDelayMs ?? 500;
  const maxDelayMs = opts.retryMaxDelayMs ?? 8_000;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
  const maxTokensField = opts.maxTokensField ?? 'max_completion_tokens';
  const models = [opts.model, ...(opts.fallbackModels ?? []).filter((m) => m !== opts.model)];
  const metrics = createLlmMetrics(opts.registry);
  const log = opts.logger.child({ component: 'llm' });
  let sdk: { client: OpenAI; lib: typeof OpenAIModule } | undefined;
  async function getSdk(): Promise<{ client: OpenAI; lib: typeof OpenAIModule }> {
    if (sdk !== undefined) return sdk;
    const lib = await importSdk();
    const client = new lib.OpenAI({
      // Explicit values keep the SDK from reading OPENAI_* variables itself; config owns env.
      apiKey: opts.apiKey ?? 'unused',
      baseURL: opts.baseURL ?? 'https://api.openai.com/v1',
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: timeoutMs,
      logLevel: 'warn',
      logger: sdkLogger(log),
      fetch: opts.fetch ?? (httpFetch ??= createHttpFetch()),
    });
    sdk ??= { client, lib };
    return sdk;
  }

  async function complete(req: LlmRequest): Promise<LlmCompletion> {
    if (req.signal?.aborted) throw abortError(req.signal);
    const state = { emitted: false };
    let last: ClassifiedFailure | undefined;
    for (let m = 0; m < models.length; m++) {
      const model = models[m]!;
      if (m > 0) {
        const from = models[m - 1]!;
        metrics.fallbacks.inc({ from_model: from, to_model: model });
        log.warn({ fromModel: from, toModel: model, code: last?.error.code, status: last?.error.status }, 'llm fallback');
      }
      for (let retry = 0; ; retry++) {
        const result = await attempt(model, req, state);
        if (result.ok) return result.completion;
        last = result;
        const { error, retryAfterMs } = result;
        if (state.emitted || (!error.retryable && error.status !== 404)) throw error;
        const tooLong = retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs;
        if (!error.retryable || retry >= maxRetries || tooLong) break;
        const delayMs = retryAfterMs ?? backoffDelayMs(retry, baseDelayMs, maxDelayMs);
        metrics.retries.inc({ model });
        log.warn({ model, retry: retry + 1, delayMs: Math.round(delayMs), code: error.code, status: error.status }, 'llm retry');
        await sleep(delayMs, req.signal);
      }
    }
    throw last!.error;
  }

  async function attempt(model: string, req: LlmRequest, state: { emitted: boolean }): Promise<AttemptResult> {
    const { client, lib } = await getSdk();
    const started = performance.now();
    const controller = new AbortController();
    const signal = req.signal;
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (timer !== undefined) {
        timer.refresh();
        return;
      }
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
    };
    let callbackError: { error: unknown } | undefined;
    let outcome: LlmOutcome = 'success';
    try {
      if (signal?.aborted) throw abortError(signal);
      arm();
      const assembler = new StreamAssembler();
      // The SDK's generic POST with the body already encoded: `chat.completions.create` encodes
      // the whole body on every call through a JSON replacer (its body observers), tool schemas
      // included, which was the largest single cost of a call on the client side. The SDK sends
      // the request and turns an error status into its error; the event stream is read here, from
      // the socket's Node stream (see NODE_BODY_HEADER): the SDK's decoder reads a WHATWG stream.
      const response = await client
        .post('/chat/completions', {
          body: requestJson(model, req),
          headers: { 'content-type': 'application/json', [NODE_BODY_HEADER]: '1' },
          stream: true,
          signal: controller.signal,
          maxRetries: 0,
          timeout: timeoutMs,
        })
        .asResponse();
      const body = nodeBody(response) ?? (response.body ? Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>) : Readable.from([]));
      await readEventStream(body, (data, event) => {
        // Aborted (the caller, or our timeout): the body fails with it; no delta after that.
        if (controller.signal.aborted) return;
        arm();
        // As the SDK's stream does: an `error` event, or a payload with `error`, is the server giving up.
        const payload = data as { error?: unknown } | null;
        const failed = event === 'error' ? (payload?.error ?? payload) : payload?.error;
        if (failed) throw new lib.APIError(undefined, failed as object, undefined, response.headers);
        const text = assembler.push(data as StreamChunk);
        if (text !== '' && req.onDelta) {
          state.emitted = true;
          try {
            req.onDelta(text);
          } catch (error) {
            callbackError = { error };
            throw error;
          }
        }
      }, {
        // Bytes that are no event (SSE comments proxies send while a model thinks) count as activity too.
        onActivity: () => {
          if (!controller.signal.aborted) arm();
        },
      });
      if (signal?.aborted) throw abortError(signal);
      const result = assembler.result();
      if (result.finishReason === undefined) {
        throw new SwitchboardError('remote_error', `LLM ${model}: stream ended before a finish_reason`, {
          retryable: true,
        });
      }
      const usage = result.usage ?? { promptTokens: 0, completionTokens: 0 };
      metrics.tokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
      metrics.tokens.inc({ model, kind: 'completion' }, usage.completionTokens);
      return {
        ok: true,
        completion: { content: result.content, toolCalls: result.toolCalls, model, finishReason: result.finishReason, usage },
      };
    } catch (err) {
      if (callbackError !== undefined) {
        outcome = 'handler_error';
        throw callbackError.error;
      }
      if (signal?.aborted) {
        outcome = 'aborted';
        throw abortError(signal);
      }
      const failure: ClassifiedFailure | undefined =
        timedOut
          ? {
              error: new SwitchboardError('timeout', `LLM ${model}: no data for ${timeoutMs} ms`, { retryable: true, cause: err }),
              retryAfterMs: undefined,
            }
          : classifyError(err, model, lib);
      if (failure === undefined) {
        outcome = 'handler_error';
        throw err;
      }
      outcome = OUTCOME_BY_CODE[failure.error.code] ?? 'remote_error';
      return { ok: false, ...failure };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Closes the connection if we stopped reading early (callback error, our own bug); a
      // finished stream is left alone so its keep-alive connection goes back to the pool.
      if (outcome !== 'success') controller.abort();
      metrics.requests.inc({ model, outcome });
      metrics.duration.observe({ model }, (performance.now() - started) / 1000);
    }
  }

  /**
   * The request body as JSON: a streaming chat completion with usage, and the tools if any. With
   * tools it is bytes, the tools' part encoded once per tool list: as a string it would be
   * copied whole twice more on its way out (into one string with the HTTP head, then to UTF-8).
   */
  function requestJson(model: string, req: LlmRequest): string | Buffer {
    const body: StreamingParams = {
      model,
      messages: req.messages as StreamingParams['messages'],
      stream: true,
      stream_options: { include_usage: true },
    };
    if (req.maxTokens !== undefined) body[maxTokensField] = req.maxTokens;
    if (req.toolChoice !== undefined && req.tools !== undefined && req.tools.length > 0) body.tool_choice = req.toolChoice;
    const json = JSON.stringify(body);
    if (req.tools === undefined || req.tools.length === 0) return json;
    const head = json.slice(0, -1);
    const tail = encodedTools(req.tools).bodyTail;
    const bytes = Buffer.allocUnsafe(Buffer.byteLength(head) + tail.length);
    tail.copy(bytes, bytes.write(head));
    return bytes;
  }

  return { model: opts.model, complete };
}

/** Routes the SDK's own warnings into our structured logger. */
function sdkLogger(log: Logger): NonNullable<ConstructorParameters<typeof OpenAI>[0]>['logger'] {
  const at =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, ...rest: unknown[]): void =>
      log[level]({ sdk: 'openai', details: rest.length > 0 ? rest : undefined }, message);
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
