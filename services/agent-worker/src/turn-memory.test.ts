import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '@switchboard/contracts';
import type { LaneStore, ReplyPublisher, TurnContext } from '@switchboard/lanes';
import { createLlmClient } from '@switchboard/llm';
import { EXTRACTION_SYSTEM_PROMPT, MemoryService, MemoryStore, rowTokens, SUMMARY_SYSTEM_PROMPT } from '@switchboard/memory';
import { counter, createLogger, createRegistry } from '@switchboard/observability';
import type { PolicyEngine } from '@switchboard/policy';
import { openDatabase, TRANSCRIPT_COMMIT_SQL, TRANSCRIPT_HISTORY_SQL, type Db } from '@switchboard/store';
import { lastUserMessages, messageText, startFakeOpenAI, type FakeOpenAI } from '@switchboard/testkit';
import type { ToolCatalog } from '@switchboard/tools';
import { HistoryCache } from './history-cache.ts';
import type { ToolDispatcher } from './tool-dispatch.ts';
import { TranscriptStore } from './transcript.ts';
import { createTurnMemory, unsummarizedTokensAtMost } from './turn-memory.ts';
import { runnerDeps } from './test-support/runner-deps.ts';
import { createTurnRunner } from './turn-runner.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
/** A property of `target`, methods bound to it (its private fields do not resolve through a Proxy). */
const bound = (target: object, name: string | symbol): unknown => {
  const value: unknown = Reflect.get(target, name);
  return typeof value === 'function' ? value.bind(target) : value;
};
let db: Db;
let model: FakeOpenAI;
const calls = { chat: 0, extract: 0, summarize: 0 };
beforeAll(async () => {
  [db, model] = await Promise.all([
    openDatabase({}),
    startFakeOpenAI({
      script: (body) => {
        const system = messageText(body.messages[0]!);
        if (system === EXTRACTION_SYSTEM_PROMPT) {
          calls.extract++;
          const fact = /my (\w+) is (\w+)/.exec(lastUserMessages(body).join('\n'));
          return { text: JSON.stringify({ memories: fact ? [{ content: `The user's ${fact[1]} is ${fact[2]}.` }] : [] }) };
        }
        if (system === SUMMARY_SYSTEM_PROMPT) {
          calls.summarize++;
          return { text: 'The user asked several questions.' };
        }
        const asked = lastUserMessages(body).join('\n');
        if (asked.includes('use a tool') && body.messages[body.messages.length - 1]!.role !== 'tool') return { toolCalls: [{ name: 'no_such_tool', arguments: { x: 1 } }] };
        if (body.messages.some((m) => m.role === 'user' && messageText(m) === 'email my boss')) {
          return body.messages.some((m) => m.role === 'tool') ? { text: 'done' } : { toolCalls: [{ name: 'send_email', arguments: { to: 'boss' } }] };
        }
        if (body.messages.some((m) => m.role === 'user' && messageText(m) === 'loop forever')) return { toolCalls: [{ name: 'no_such_tool', arguments: { x: 1 } }] };
        if (body.messages.some((m) => m.role === 'user' && messageText(m) === 'wrap it up')) {
          // Asks for a tool until it is told to answer.
          const seenResults = body.messages.filter((m) => m.role === 'tool').length;
          return (body as { tool_choice?: string }).tool_choice === 'none' ? { text: `answered after ${seenResults} tool results` } : { toolCalls: [{ name: 'no_such_tool', arguments: { x: 1 } }] };
        }
        calls.chat++;
        return { text: `Here is a long enough answer: ${'words '.repeat(60)}` };
      },
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([db?.close(), model?.close()]);
});

function runner(withMemory: boolean) {
  const registry = createRegistry({ defaultMetrics: false });
  const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry, logger });
  const memory = new MemoryService({ db, store: new MemoryStore(db, { logger, registry }), summarizer: llm, extraction: 'turn', logger });
  return createTurnRunner({ ...runnerDeps(db, llm, 600, 2), ...(withMemory ? { memory: createTurnMemory(db, memory, 'default') } : {}) });
}

function turn(n: number, text: string, resumed = false): TurnContext {
  const message: InboundMessage = {
    v: 1, id: `m${n}`, platform: 'web', sessionKey: 'web:local:replay', account: 'local', chatId: 'replay', userId: 'local/replay', kind: 'user', text, receivedAtMs: Date.now(),
  };
  const store = { appendEvent: async () => '0-0', loadSteps: async () => [], saveStep: async () => undefined } as unknown as LaneStore;
  return { sessionKey: message.sessionKey, turnId: `turn-${n}`, resumed, fence: n, messages: [message], attempt: resumed ? 2 : 1, signal: new AbortController().signal, store, log: logger };
}
const count = async (table: string) => Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n);

describe('a retried turn', () => {
  it('does not compact or extract twice, and catches up on memory work a crash skipped', async () => {
    const withMemory = runner(true);
    for (let n = 1; n <= 5; n++) await withMemory(turn(n, `Question ${n}: ${'tell me more about this '.repeat(8)}`));
    expect(calls.summarize).toBeGreaterThan(0);
    const snapshot = { ...calls, summaries: await count('summaries'), runs: await count('memory_runs'), memories: await count('memories') };
    // The lane hands the last turn out again (a crash after commit, before acknowledgement).
    await withMemory(turn(5, 'ignored: the committed reply is delivered again', true));
    await withMemory(turn(5, 'ignored', true));
    expect({ ...calls, summaries: await count('summaries'), runs: await count('memory_runs'), memories: await count('memories') }).toEqual(snapshot);

    // A worker that committed turn 6 and died before its memory work: the resumed turn does it, once.
    await runner(false)(turn(6, 'my locker is 7781'));
    expect(await count('memories')).toBe(0);
    await withMemory(turn(6, 'ignored', true));
    await withMemory(turn(6, 'ignored', true));
    expect(calls.extract).toBe(snapshot.extract + 1);
    expect((await db.query<{ content: string }>(`SELECT content FROM memories`)).rows).toEqual([{ content: "The user's locker is 7781." }]);
    expect(calls.chat).toBe(6); // no model call was repeated either
  }, 60_000);
});

describe('the transcript size a turn passes on to compaction', () => {
  it('is what compaction would count from the database, and a bound of it when the history was cut', async () => {
    const memory = new MemoryService({ db, store: new MemoryStore(db, { logger, registry: createRegistry({ defaultMetrics: false }) }), summarizer: undefined, extraction: 'off', logger });
    const turnMemory = createTurnMemory(db, memory, 'default');
    const ctx = { ...turn(100, 'how big is it'), sessionKey: 'web:local:sizes', turnId: 'sizes-1' };
    const transcripts = new TranscriptStore(db);
    const session = ctx.messages[0]!;
    await transcripts.commit({
      sessionKey: ctx.sessionKey, fence: 1, session, turnId: 'sizes-0', inboundIds: ['x'], replyText: 'ok', model: 'm', promptTokens: 0, completionTokens: 0,
      rows: [
        { role: 'user', content: 'first question', tokens: 3 },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', type: 'function', function: { name: 'echo', arguments: '{"text":"hi"}' } }], tokens: 0 },
        { role: 'tool', content: 'hi', toolCallId: 'c1', tokens: 1 },
        { role: 'assistant', content: 'the answer, counted when it is read', tokens: undefined },
      ],
    });
    const prepared = await turnMemory.prepare(ctx, 100);
    const added = [{ role: 'user' as const, content: 'how big is it', tokens: 4 }];
    const fromDb = (await db.query<{ role: 'user' | 'assistant' | 'tool'; content: string; tool_calls: null; tokens: number | null }>(
      `SELECT role, content, tool_calls, tokens FROM messages WHERE session_id = $1`, [ctx.sessionKey])).rows;
    const expected = [...fromDb.map((r) => ({ seq: 0, role: r.role, content: r.content, toolCalls: r.tool_calls, tokens: r.tokens })), { seq: 0, role: 'user' as const, content: 'how big is it', toolCalls: null, tokens: 4 }]
      .reduce((n, r) => n + rowTokens(r), 0);
    expect(unsummarizedTokensAtMost(prepared, 100, added)).toBe(expected);
    // Two rows loaded with a limit of two: there may be more, so the database's bound counts.
    const cut = await turnMemory.prepare(ctx, 2);
    expect(cut.history).toHaveLength(2);
    const bound = unsummarizedTokensAtMost(cut, 2, added);
    expect(bound).toBeGreaterThanOrEqual(expected);
    expect(bound).toBeLessThan(expected + 200);
  });

  it('lets compaction skip the database when the transcript fits, and compact as before when it does not', async () => {
    let queries = 0;
    const counting = new Proxy(db, {
      get: (target, name) => (name === 'query' ? (...args: Parameters<Db['query']>) => (queries++, target.query(...args)) : bound(target, name)),
    });
    const memory = new MemoryService({ db: counting, store: new MemoryStore(db, { logger, registry: createRegistry({ defaultMetrics: false }) }), summarizer: undefined, extraction: 'off', logger });
    const identity = { sessionKey: 'web:local:sizes', platform: 'web', userId: 'local/replay', agent: 'default', personal: true };
    expect(await memory.compact(identity, 'sizes-1', 1000, { unsummarizedTokensAtMost: 600 })).toBe(false);
    expect(queries).toBe(0);
    await memory.compact(identity, 'sizes-1', 1000, { unsummarizedTokensAtMost: 601 });
    expect(queries).toBeGreaterThan(0);
  });
});

describe('the history a worker keeps of each session’s last turn', () => {
  let historyReads = 0;
  /** A worker: its own turn runner over the shared database, counting history reads; `beforeCommit` runs before each commit. */
  function worker(opts: { cache?: HistoryCache; beforeCommit?: () => Promise<void>; compact?: boolean; lookups?: Counter<'result'> }) {
    const watched = new Proxy(db, {
      get: (target, name) =>
        name === 'query'
          ? async (...args: Parameters<Db['query']>) => {
              if (args[0] === TRANSCRIPT_HISTORY_SQL) historyReads++;
              if (args[0] === TRANSCRIPT_COMMIT_SQL) await opts.beforeCommit?.();
              return target.query(...args);
            }
          : bound(target, name),
    });
    const registry = createRegistry({ defaultMetrics: false });
    const llm = createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry, logger });
    const memory = new MemoryService({ db: watched, store: new MemoryStore(db, { logger, registry }), summarizer: opts.compact ? llm : undefined, extraction: 'off', logger });
    return createTurnRunner({
      ...runnerDeps(watched, llm, opts.compact ? 600 : 100_000, 3),
      memory: createTurnMemory(watched, memory, 'default', opts.cache ? { cache: opts.cache, ...(opts.lookups ? { cacheLookups: opts.lookups } : {}) } : {}),
    });
  }
  /** The claim with fencing token `fence` of `session`, with one message. */
  const claim = (session: string, fence: number, text: string): TurnContext => {
    const ctx = turn(fence, text);
    const message = { ...ctx.messages[0]!, id: `${session}-m${fence}`, sessionKey: `web:local:${session}`, chatId: session };
    return { ...ctx, sessionKey: message.sessionKey, turnId: `${session}-t${fence}`, messages: [message] };
  };
  /** Runs a turn and returns the chat prompts the model got. */
  const prompts = async (run: ReturnType<typeof worker>, ctx: TurnContext) => {
    const from = model.requests.length;
    await run(ctx);
    return model.requests.slice(from).map((r) => JSON.stringify(r.messages));
  };
  const newCache = () => new HistoryCache({ maxBytes: 1 << 20 });

  it('gives the next turn on the same worker the context the database would, without reading it again', async () => {
    const texts = ['first question', 'now use a tool please', 'third question', 'fourth question'];
    const run = async (w: ReturnType<typeof worker>, session: string) => {
      const out: string[][] = [];
      // Tool call ids are the fake model's random ones.
    for (const [i, text] of texts.entries()) out.push((await prompts(w, claim(session, i + 1, text))).map((p) => p.replaceAll(session, 'SESSION').replace(/call_\w+?_\d+/g, 'CALL')));
      return out;
    };
    historyReads = 0;
    const registry = createRegistry({ defaultMetrics: false });
    const lookups = counter(registry, { name: 'switchboard_history_cache_lookups_total', help: 'h', labelNames: ['result'] as const });
    const cached = await run(worker({ cache: newCache(), lookups }), 'cached');
    expect(historyReads).toBe(1);
    expect((await lookups.get()).values.map((v) => [v.labels.result, v.value]).sort()).toEqual([['hit', 3], ['miss', 1]]);
    historyReads = 0;
    const uncached = await run(worker({}), 'uncached');
    expect(historyReads).toBe(4);
    expect(cached).toEqual(uncached);
    // The last prompt holds every earlier turn, the tool call and its error result included.
    const last = JSON.parse(cached[3]![0]!) as Array<{ role: string }>;
    expect(last.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'user']);
  });

  it('reads the database again after a turn ran on another worker', async () => {
    const mine = worker({ cache: newCache() });
    const other = worker({});
    await mine(claim('moved', 1, 'one'));
    await mine(claim('moved', 2, 'two'));
    await other(claim('moved', 3, 'said on the other worker'));
    historyReads = 0;
    const [prompt] = await prompts(mine, claim('moved', 4, 'four'));
    expect(historyReads).toBe(1);
    expect(prompt).toContain('said on the other worker');
  });

  it('reads the database again when another commit landed between its read and its commit', async () => {
    let late: (() => Promise<unknown>) | undefined;
    const mine = worker({ cache: newCache(), beforeCommit: async () => { const commit = late; late = undefined; await commit?.(); } });
    await mine(claim('late', 1, 'one'));
    const first = claim('late', 1, 'one').messages[0]!;
    // A worker whose claim was fenced off still commits with the token the session's last commit had.
    late = () =>
      new TranscriptStore(db).commit({
        sessionKey: first.sessionKey, fence: 1, session: first, turnId: 'late-zombie', inboundIds: ['late-zombie'], replyText: 'late reply', model: 'm', promptTokens: 0, completionTokens: 0,
        rows: [{ role: 'user', content: 'a message committed late', sourceId: 'late-zombie', tokens: 5 }, { role: 'assistant', content: 'late reply', tokens: 2 }],
      });
    historyReads = 0;
    await mine(claim('late', 2, 'two'));
    expect(historyReads).toBe(0); // the read came from the cache; the late commit landed before this turn's
    const [prompt] = await prompts(mine, claim('late', 3, 'three'));
    expect(historyReads).toBe(1);
    expect(prompt).toContain('a message committed late');
  });

  it('reads the database again after compaction wrote a summary', async () => {
    const mine = worker({ cache: newCache(), compact: true });
    let compactions = 0;
    /** Whether the turn before wrote a summary. */
    let compacted = false;
    let before = await count('summaries');
    for (let fence = 1; fence <= 8; fence++) {
      historyReads = 0;
      const [prompt] = await prompts(mine, claim('compacted', fence, `Question ${fence}: ${'tell me more about this '.repeat(8)}`));
      if (fence > 1) expect(historyReads).toBe(compacted ? 1 : 0);
      if (compacted) expect(prompt).toContain('The user asked several questions.');
      const summaries = await count('summaries');
      compacted = summaries > before;
      if (compacted) compactions++;
      before = summaries;
    }
    expect(compactions).toBeGreaterThan(0);
  }, 30_000);
});

describe('what a turn delivers', () => {
  const llm = () => createLlmClient({ baseURL: model.url, apiKey: 'k', model: 'fake-model', maxRetries: 0, registry: createRegistry({ defaultMetrics: false }), logger });
  const transcriptOf = async (sessionKey: string) =>
    (await db.query<{ role: string; content: string }>(`SELECT role, content FROM messages WHERE session_id = $1 ORDER BY seq`, [sessionKey])).rows;

  it('is in the transcript when the turn stops at its tool-step limit', async () => {
    const delivered: string[] = [];
    const run = createTurnRunner({ ...runnerDeps(db, llm(), 100_000, 2), replies: { deliver: async (r: { text: string }) => void delivered.push(r.text) } as unknown as ReplyPublisher });
    const ctx = { ...turn(200, 'loop forever'), sessionKey: 'web:local:limit', turnId: 'limit-1' };
    await run(ctx);
    expect(delivered).toEqual([expect.stringContaining('I stopped after 2 tool steps')]);
    expect((await transcriptOf('web:local:limit')).at(-1)).toEqual({ role: 'assistant', content: delivered[0] });
  });

  it('keeps an early message of a long chat of short turns in the prompt: the history read covers what compaction leaves', async () => {
    const run = createTurnRunner({ ...runnerDeps(db, llm(), 16_000, 2) });
    const at = (n: number, text: string) => ({ ...turn(300 + n, text), sessionKey: 'web:local:flight', turnId: `flight-${n}` });
    await run(at(0, 'My flight is LH400 on Friday.'));
    for (let n = 1; n < 80; n++) await run(at(n, `ok ${n}`));
    const from = model.requests.length;
    await run(at(80, 'Which flight was mine?'));
    // 162 messages, far below the budget and never summarized: all of them are in the prompt.
    expect(JSON.stringify(model.requests[from]!.messages)).toContain('My flight is LH400 on Friday.');
  }, 60_000);

  it('comes from the last step the limit allows, which is told to answer, so every tool result reaches the model', async () => {
    const delivered: string[] = [];
    // One tool on offer (the model asks for another, which is answered with an error, not run).
    const catalog = { list: async () => [{ name: 'lookup', description: 'Looks up', parameters: { type: 'object', properties: {} }, timeoutMs: 1000, risk: 'low' }] } as unknown as ToolCatalog;
    const run = createTurnRunner({ ...runnerDeps(db, llm(), 100_000, 2), catalog, replies: { deliver: async (r: { text: string }) => void delivered.push(r.text) } as unknown as ReplyPublisher });
    await run({ ...turn(210, 'wrap it up'), sessionKey: 'web:local:wrap', turnId: 'wrap-1' });
    expect(delivered).toEqual(['answered after 1 tool results']);
    // Every tool call in the transcript has its result: nothing the model asked for is left unanswered.
    const rows = await transcriptOf('web:local:wrap');
    expect(rows.map((r) => r.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  });

  it('is the committed answer when an earlier run of the turn committed first', async () => {
    const delivered: string[] = [];
    const real = new TranscriptStore(db);
    // A stalled earlier run of this turn (the previous claim) commits its own answer just before this run does.
    const transcripts = new Proxy(real, {
      get: (target, name) =>
        name === 'commit'
          ? async (input: Parameters<TranscriptStore['commit']>[0]) => {
              const rows = input.rows.map((r) => (r.role === 'assistant' ? { ...r, content: 'the earlier run’s answer' } : r));
              expect((await real.commit({ ...input, fence: input.fence - 1, replyText: 'the earlier run’s answer', rows })).outcome).toBe('committed');
              return real.commit(input);
            }
          : bound(target, name),
    });
    const run = createTurnRunner({ ...runnerDeps(db, llm(), 100_000, 2), transcripts, replies: { deliver: async (r: { text: string }) => void delivered.push(r.text) } as unknown as ReplyPublisher });
    await run({ ...turn(201, 'hello again', true), sessionKey: 'web:local:twice', turnId: 'twice-1' });
    expect(delivered).toEqual(['the earlier run’s answer']);
    expect(await real.committedReply('twice-1')).toBe('the earlier run’s answer');
  });

  it('is finished, not started over, when a newer message comes after a tool ran (interrupt mode would run the tool twice)', async () => {
    const delivered: string[] = [];
    const controller = new AbortController();
    let runs = 0;
    const sendEmail = { name: 'send_email', description: 'sends an email', parameters: { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] }, timeoutMs: 1000, risk: 'low' as const };
    const run = createTurnRunner({
      ...runnerDeps(db, llm(), 100_000, 4),
      catalog: { list: async () => [sendEmail] } as unknown as ToolCatalog,
      policy: { offers: () => true, decide: () => ({ decision: 'allow' }) } as unknown as PolicyEngine,
      tools: {
        run: async () => {
          runs++;
          controller.abort(new Error('interrupted by a new message')); // a newer message arrives while the tool runs
          return { ok: true, output: 'sent ok', truncated: false, durationMs: 1 };
        },
      } as unknown as ToolDispatcher,
      replies: { deliver: async (r: { text: string }) => void delivered.push(r.text) } as unknown as ReplyPublisher,
    });
    await run({ ...turn(202, 'email my boss'), sessionKey: 'web:local:mail', turnId: 'mail-1', signal: controller.signal });
    expect({ runs, delivered }).toEqual({ runs: 1, delivered: ['done'] });
  });
});
