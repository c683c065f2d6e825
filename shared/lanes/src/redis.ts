import { Pipeline, Redis } from 'ioredis';

/**
 * An ioredis connection suitable for BullMQ workers and blocking reads (`maxRetriesPerRequest: null`:
 * commands wait for a reconnect instead of failing).
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
  if (opts.autoPipelining) sharePipelineScripts(client);
  return client;
}

/** The parts of ioredis' connection that its `Pipeline` constructor reads (public, but untyped). */
interface ScriptedClient {
  scriptsSet: Record<string, unknown>;
  defineCommand: Redis['defineCommand'];
  pipeline: Redis['pipeline'];
}

const NO_SCRIPTS: Record<string, unknown> = Object.freeze({});

/**
 * Makes the connection's pipelines find its Lua scripts on a shared prototype instead of copying
 * them. Auto-pipelining makes a `Pipeline` for every batch, and ioredis' constructor copies each
 * script the connection defines onto it (two methods and a hash entry each): with BullMQ's ~64
 * scripts on a connection that ~20 µs and the batch's largest allocation, made for every few
 * commands. Here the constructor sees no scripts, and the object is made with a prototype (one per
 * set of scripts, remade when one is defined) that holds the connection's script methods. A pipeline
 * calls a script through that method as before: its NOSCRIPT fallback lives in the script itself.
 */
export function sharePipelineScripts(redis: Redis): void {
  const client = redis as unknown as ScriptedClient;
  let scripted: typeof Pipeline | undefined;
  const define = client.defineCommand;
  client.defineCommand = function (this: Redis, ...args: Parameters<Redis['defineCommand']>) {
    define.apply(this, args);
    scripted = undefined;
  };
  client.pipeline = function (this: Redis, commands?: unknown[][]) {
    const self = this as unknown as ScriptedClient;
    scripted ??= scriptedPipelineClass(self);
    const scripts = self.scriptsSet;
    self.scriptsSet = NO_SCRIPTS;
    let pipeline: Pipeline;
    try {
      pipeline = Reflect.construct(Pipeline, [this], scripted) as Pipeline;
    } finally {
      self.scriptsSet = scripts;
    }
    if (Array.isArray(commands)) pipeline.addBatch(commands);
    return pipeline;
  } as Redis['pipeline'];
}

function scriptedPipelineClass(client: ScriptedClient): typeof Pipeline {
  const scripted = class extends Pipeline {};
  const methods = client as unknown as Record<string, unknown>;
  for (const name of Object.keys(client.scriptsSet)) {
    for (const method of [name, `${name}Buffer`]) {
      Object.defineProperty(scripted.prototype, method, { value: methods[method], writable: true, configurable: true });
    }
  }
  return scripted;
}
