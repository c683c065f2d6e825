import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import type { LaneStore, ReplyPublisher, TurnContext } from '@switchboard/lanes';
import { createLlmClient } from '@switchboard/llm';
import { createLogger, createRegistry } from '@switchboard/observability';
import { startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import type { Db } from '@switchboard/store';
import type { CommitInput, TranscriptStore } from './transcript.ts';
import type { TurnMemory } from './turn-memory.ts';
import { runnerDeps } from './test-support/runner-deps.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
let model: FakeOpenAI;
beforeAll(async () => {
  model = await startFakeOpenAI({ script: () => ({ text: 'ok' }) });
});
afterAll(async () => {
  await model?.close();
});

/** A promise with its settling functions outside. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/**
 * A runner whose commits wait until the test lets each go (`release(turnId)`, or `fail(turnId)`
 * for a commit that throws), recording what
 * happens in `log`; replies are recorded as delivered, and the memory work after a turn waits for
 * `memoryDone` when `holdMemory` is set.
 */
function rig(finishingTurns: number, opts: { holdMemory?: boolean } = {}) {
  const log: string[] = [];
  /** Fences raised in the database (interrupt mode), as `session@fence`. */
  const raised: string[] = [];
  const commits = new Map<string, ReturnType<typeof deferred>>();
  const memoryDone = deferred();
  const transcripts = {
    recent: async () => [],
    committedReply: async () => undefined,
    async raiseFence(sessionKey: string, fence: number) {
      raised.push(`${sessionKey}@${fence}`);
    },
    async commit(input: CommitInput) {
      log.push(`commit ${input.turnId}`);
      const go = deferred();
      commits.set(input.turnId, go);
      await go.promise;
      return { outcome: 'committed' as const, baseSeq: 0 };
    },
  } as unknown as TranscriptStore;
  const memory = {
    prepare: async () => undefined,
    observePrompt: () => undefined,
    committed: () => undefined,
    async afterTurn(ctx: TurnContext) {
      log.push(`memory ${ctx.turnId}`);
      if (opts.holdMemory) await memoryDone.promise;
    },
  } as unknown as TurnMemory;
  const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
  const runTurn = createTurnRunner({
    ...runnerDeps({} as Db, llm, 4000, 2),
    transcripts,
    replies: { deliver: async (r: { turnId: string }) => void log.push(`reply ${r.turnId}`) } as unknown as ReplyPublisher,
    memory,
    finishingTurns,
  });
  /** Resolves once the turn's commit has started. */
  const committing = async (turnId: string) => {
    while (!commits.has(turnId)) await new Promise((r) => setTimeout(r, 5));
  };
  return {
    log,
    raised,
    runTurn,
    committing,
    release: (turnId: string) => commits.get(turnId)!.resolve(),
    fail: (turnId: string) => commits.get(turnId)!.reject(new Error('database gone')),
    releaseMemory: memoryDone.resolve,
  };
}

function turn(n: number, over: { releasable?: boolean; owns?: boolean } = {}): TurnContext {
  const message: InboundMessage = {
    v: 1, id: `m${n}`, platform: 'web', sessionKey: `web:local:s${n}`, account: 'local', chatId: `s${n}`, userId: `local/u${n}`, kind: 'user', text: `hi ${n}`, receivedAtMs: Date.now(),
  };
  const owns = over.owns ?? true;
  const store = { appendEvent: async () => '0-0', loadSteps: async () => [], saveStep: async () => undefined, owns: async () => owns } as unknown as LaneStore;
  return {
    sessionKey: message.sessionKey, turnId: `t${n}`, resumed: false, fence: 1, messages: [message], attempt: 1, signal: new AbortController().signal, store, log: logger,
    ...(over.releasable !== undefined ? { releasable: over.releasable } : {}),
  };
}

/** Lets pending callbacks run (a commit that could start would have started). */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('turns finishing at once', () => {
  it('wait for a place to commit and deliver, first come first served, and each is answered', async () => {
    const { log, runTurn, committing, release } = rig(2);
    const runs = [1, 2].map((n) => runTurn(turn(n)));
    await Promise.all([committing('t1'), committing('t2')]);
    const later = [3, 4].map((n) => runTurn(turn(n)));
    await settle();
    // Two places, both taken: the third and fourth turns have their answers but wait.
    expect(log.filter((l) => l.startsWith('commit'))).toEqual(['commit t1', 'commit t2']);
    release('t2');
    await committing('t3');
    // t2's reply went out before its place went to the next turn.
    expect(log.indexOf('reply t2')).toBeLessThan(log.indexOf('commit t3'));
    await settle();
    expect(log).not.toContain('commit t4');
    release('t1');
    await committing('t4');
    release('t3');
    release('t4');
    await Promise.all([...runs, ...later]);
    expect(log.filter((l) => l.startsWith('reply')).sort()).toEqual(['reply t1', 'reply t2', 'reply t3', 'reply t4']);
  });

  it("do not wait for another turn's memory work, which may call the model", async () => {
    const { log, runTurn, committing, release, releaseMemory } = rig(1, { holdMemory: true });
    const first = runTurn(turn(1));
    await committing('t1');
    release('t1');
    while (!log.includes('memory t1')) await new Promise((r) => setTimeout(r, 5));
    // t1 holds no place while its memory work runs: t2 commits and is answered.
    const second = runTurn(turn(2));
    await committing('t2');
    release('t2');
    while (!log.includes('reply t2')) await new Promise((r) => setTimeout(r, 5));
    releaseMemory();
    await Promise.all([first, second]);
  });

  it('free their place when the commit fails', async () => {
    const { log, runTurn, committing, fail, release } = rig(1);
    const first = runTurn(turn(1));
    await committing('t1');
    const second = runTurn(turn(2));
    await settle();
    expect(log).not.toContain('commit t2');
    fail('t1');
    await expect(first).rejects.toThrow('database gone');
    await committing('t2');
    release('t2');
    await second;
    expect(log.filter((l) => l.startsWith('reply'))).toEqual(['reply t2']);
  });
});

describe('a turn whose batch may be given back (interrupt mode)', () => {
  it('commits only while its claim still owns the batch', async () => {
    const { log, raised, runTurn, committing, release } = rig(4);
    // Resumed elsewhere, then given back and claimed anew: this stalled run must not commit.
    await expect(runTurn(turn(1, { releasable: true, owns: false }))).rejects.toMatchObject({ name: 'FencedError' });
    expect(log).toEqual([]);
    // Still the owner: commits and answers as usual.
    const owner = runTurn(turn(2, { releasable: true, owns: true }));
    await committing('t2');
    release('t2');
    await owner;
    // Outside interrupt mode a batch is only resumed under its own turn id: no check.
    const collect = runTurn(turn(3, { releasable: false, owns: false }));
    await committing('t3');
    release('t3');
    await collect;
    expect(log.filter((l) => l.startsWith('reply'))).toEqual(['reply t2', 'reply t3']);
    // Each interrupt-mode claim raised the session's fence in the database before its model call.
    expect(raised).toEqual(['web:local:s1@1', 'web:local:s2@1']);
  });
});
