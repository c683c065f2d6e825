import { Pipeline, Redis } from 'ioredis';

/**
 * An ioredis connection suitable for BullMQ workers and blocking reads (`maxRetriesPerRequest: null`:
 * commands wait for a reconnect instead of failing). Its pipelines are made by
 * {@link lightPipelines}.
 */
export function createRedis(url: string, name?: string, opts: { autoPipelining?: boolean } = {}): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Commands issued in the same tick go out in one write: far fewer syscalls under load.
    // Only for connections that never block (not BullMQ workers or subscribers).
    enableAutoPipelining: opts.autoPipelining ?? false,
    ...(name ? { connectionName: name } : {}),
  });
  lightPipelines(client);
  return client;
}

/** The parts of ioredis' connection that its `Pipeline` constructor reads (public, but untyped). */
interface PipelineSource {
  scriptsSet: Record<string, unknown>;
  addedBuiltinSet: Set<string>;
  options: unknown;
  isCluster?: boolean;
  defineCommand: Redis['defineCommand'];
  pipeline: Redis['pipeline'];
}

type Fields = Record<string, unknown>;

/**
 * Makes the connection's pipelines (auto-pipelining makes one for every batch; BullMQ makes its
 * own) without ioredis' `Pipeline` constructor, which costs a batch twice over:
 *
 * - It copies every Lua script the connection defines onto the pipeline (two methods and a hash
 *   entry each): with BullMQ's ~64 scripts, ~20 µs and the batch's largest allocation.
 * - It defines `length` on each pipeline as an accessor with a closure of its own. V8 then gives
 *   each pipeline a hidden class of its own, kept in old space until a full collection, and that
 *   class holds the closure, which holds the pipeline: every pipeline, with its commands, replies
 *   and promises, outlives the young generation and is promoted to the old one, however short its
 *   life (~1.4 MB promoted per young collection in the one-session benchmark).
 *
 * Here a pipeline is an object of a subclass whose prototype holds the connection's script and
 * command methods (one per set of scripts, remade when one is defined) and `length`; its own
 * fields are those the constructor sets, in the same order. A pipeline calls a script through the
 * script's own method as before (the NOSCRIPT fallback lives in the script). Should ioredis' fields
 * ever differ from these (checked against one real pipeline per connection), the connection keeps
 * ioredis' constructor.
 */
export function lightPipelines(redis: Redis): void {
  const client = redis as unknown as PipelineSource;
  let prototype: object | undefined;
  let fits: boolean | undefined;
  const define = client.defineCommand;
  client.defineCommand = function (this: Redis, ...args: Parameters<Redis['defineCommand']>) {
    define.apply(this, args);
    prototype = undefined;
  };
  const construct = client.pipeline;
  client.pipeline = function (this: Redis, commands?: unknown[][]) {
    const self = this as unknown as PipelineSource;
    fits ??= sameFields(self);
    if (!fits) return construct.call(this, commands);
    prototype ??= pipelinePrototype(self);
    const pipeline = makePipeline(prototype, self);
    if (Array.isArray(commands)) pipeline.addBatch(commands);
    return pipeline;
  } as Redis['pipeline'];
}

/** A pipeline's own fields, as ioredis' `Commander` and `Pipeline` constructors set them (6.x). */
function makePipeline(prototype: object, redis: PipelineSource): Pipeline {
  const p = Object.create(prototype) as Fields;
  // Commander's
  p.options = {};
  p.scriptsSet = {};
  p.addedBuiltinSet = new Set();
  // Pipeline's
  p.redis = redis;
  p.isPipeline = true;
  p.replyPending = 0;
  p._queue = [];
  p._result = [];
  p._transactions = 0;
  p._shaToScript = {};
  p.isCluster = redis.constructor.name === 'Cluster' || redis.isCluster === true;
  p.options = redis.options;
  p.promise = new Promise((resolve, reject) => {
    p.resolve = resolve;
    p.reject = reject;
  });
  return p as unknown as Pipeline;
}

function pipelinePrototype(client: PipelineSource): object {
  const light = class extends Pipeline {};
  const methods = client as unknown as Fields;
  const names = [...Object.keys(client.scriptsSet), ...client.addedBuiltinSet];
  for (const name of names) {
    for (const method of [name, `${name}Buffer`]) {
      Object.defineProperty(light.prototype, method, { value: methods[method], writable: true, configurable: true });
    }
  }
  Object.defineProperty(light.prototype, 'length', {
    get(this: { _queue: unknown[] }) {
      return this._queue.length;
    },
    configurable: true,
  });
  return light.prototype;
}

/** Whether a pipeline ioredis makes has exactly the own fields {@link makePipeline} sets. */
function sameFields(client: PipelineSource): boolean {
  const copied = new Set([...Object.keys(client.scriptsSet), ...client.addedBuiltinSet].flatMap((n) => [n, `${n}Buffer`]));
  const real = Reflect.construct(Pipeline, [client]) as object;
  const theirs = Object.getOwnPropertyNames(real).filter((n) => n !== 'length' && !copied.has(n));
  const ours = Object.getOwnPropertyNames(makePipeline(Object.prototype, client));
  return theirs.length === ours.length && theirs.every((n, i) => n === ours[i]);
}
