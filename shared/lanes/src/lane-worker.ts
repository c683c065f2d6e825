import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { TURN_QUEUE, TurnJob, type InboundMessage } from '@switchboard/contracts';
import type { Logger } from '@switchboard/observability';
import { FencedError, TurnInterruptedError, TurnParkedError } from './errors.ts';
import type { ClaimedBatch, LaneStore } from './lane-store.ts';
import { laneMetrics } from './metrics.ts';
import type { TurnQueue } from './turn-queue.ts';

/** What a turn handler gets: one session's batch of messages, and a stable turn id. */
export interface TurnContext {
  sessionKey: string;
  /** Stable across retries and crash recovery of the same batch. */
  turnId: string;
  resumed: boolean;
  /** Fencing token to present at commit (see LaneStore.claim). */
  fence: number;
  messages: InboundMessage[];
  /** 1 for the first try. */
  attempt: number;
  /** Aborted when a newer message for the session arrives (interrupt mode only). */
  signal: AbortSignal;
  /**
   * Interrupt mode: the batch may be given back and claimed anew under a new turn id, which the
   * commit's fencing (against the tokens of earlier commits) cannot see, so the handler checks
   * with `store.owns` right before it commits. Unset elsewhere: a batch is only ever resumed
   * under the same turn id, whose commit is written once.
   */
  releasable?: boolean;
  store: LaneStore;
  /**
   * The turn's logger (bindings: session, turn and job id). Made on first use: most turns log
   * nothing, and a pino child with the redaction rules costs ~2% of a turn's allocations.
   */
  readonly log: Logger;
}

export interface LaneWorkerOptions {
  /** Connection the BullMQ workers share (each adds its own blocking one); must have `maxRetriesPerRequest: null`. */
  connection: Redis;
  prefix: string;
  store: LaneStore;
  turns: TurnQueue;
  logger: Logger;
  registry: Registry;
  /** Turns this process runs at once (default 50). */
  concurrency?: number;
  /** Lease of a running turn in ms (default 8000); a worker silent this long is presumed dead. */
  leaseMs?: number;
  /** Stale sessions per page of the sweep (default {@link SWEEP_PAGE}; small in tests). */
  sweepPage?: number;
  /** Most messages collected into one turn (default 20; 1 gives one turn per message). */
  maxBatch?: number;
  /**
   * Interrupt mode: a message that arrives during a turn aborts it (`ctx.signal`); the handler
   * throws TurnInterruptedError and the batch is taken again with the new message. A turn whose
   * batch is full (`maxBatch` entries) is not interrupted: the new message would not fit in the
   * batch taken again. Needs a dedicated `subscriber` connection.
   */
  interrupt?: { subscriber: Redis };
  /** Runs the turn: must commit and deliver before resolving; throws FencedError when fenced off. */
  handle(ctx: TurnContext): Promise<void>;
  /** Called once when a turn failed for good, before its messages are dropped from the inbox. */
  onGiveUp(ctx: TurnContext, err: unknown): Promise<void>;
}

export interface LaneWorker {
  /** The BullMQ workers that share this process' turn slots (one per 50). */
  workers: Worker[];
  close(): Promise<void>;
}

interface RunningTurn {
  controller: AbortController;
  /** The claimed batch's message ids; undefined while the claim is on its way. */
  messageIds: Set<string> | undefined;
  /** Messages that arrived before the batch was known. */
  early: string[];
  /**
   * The batch took as many entries as a claim may (`maxBatch`): a message arriving now would not be
   * in the batch taken again, so it does not interrupt the turn (which would only redo the same turn).
   */
  full: boolean;
}

/**
 * A turn's context. A class, not an object literal with a `log` getter: each such literal gets a
 * hidden class of its own that holds the getter's closure (and through it the job and the batch)
 * until a full collection, so every turn's objects were promoted out of the young generation.
 */
class Turn implements TurnContext {
  readonly sessionKey: string;
  readonly turnId: string;
  readonly resumed: boolean;
  readonly fence: number;
  readonly messages: InboundMessage[];
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly releasable: boolean;
  readonly store: LaneStore;
  private readonly jobId: string | undefined;
  private readonly parentLogger: Logger;
  private logger: Logger | undefined;

  constructor(sessionKey: string, batch: ClaimedBatch, job: Job, signal: AbortSignal, releasable: boolean, store: LaneStore, logger: Logger) {
    this.sessionKey = sessionKey;
    this.turnId = batch.turnId;
    this.resumed = batch.resumed;
    this.fence = batch.fence;
    this.messages = batch.messages;
    this.attempt = job.attemptsMade + 1;
    this.signal = signal;
    this.releasable = releasable;
    this.store = store;
    this.jobId = job.id;
    this.parentLogger = logger;
  }

  /** Made on first use: most turns log nothing, and a pino child with the redaction rules costs ~2% of a turn's allocations. */
  get log(): Logger {
    return (this.logger ??= this.parentLogger.child({ sessionId: this.sessionKey, turnId: this.turnId, jobId: this.jobId }));
  }
}

/** Turn slots per BullMQ worker: a process with more runs several (see createLaneWorker). */
const TURNS_PER_FETCHER = 50;

/** Stale sessions asked for again per page of a sweep, and pages per sweep. */
export const SWEEP_PAGE = 500;
const SWEEP_PAGES = 4;
/** Longest the sweep leaves a parked turn alone (a lost turn request after the answer is found then). */
export const PARKED_SWEEP_PAUSE_MS = 5 * 60_000;

/**
 * Consumes the turn queue. Each job claims its session's batch, runs the handler and then
 * acknowledges exactly that batch; when messages are left it asks for the next turn. A periodic
 * sweep re-requests turns for sessions whose messages wait without a job (a producer that died
 * between appending and enqueueing).
 */
export function createLaneWorker(opts: LaneWorkerOptions): LaneWorker {
  const leaseMs = opts.leaseMs ?? 8000;
  const maxBatch = opts.maxBatch ?? 20;
  const metrics = laneMetrics(opts.registry);
  /**
   * Turns running in this process, by session (interrupt mode): registered before the claim, so a
   * message that arrives while the claim is on its way is not missed. Its arrivals wait in `early`
   * until the batch's ids are known (a message the claim took does not interrupt).
   */
  const runningTurns = new Map<string, RunningTurn>();

  const processor = async (job: Job): Promise<string> => {
    const parsed = TurnJob.safeParse(job.data);
    if (!parsed.success) {
      opts.logger.error({ queue: TURN_QUEUE.name, jobId: job.id, issues: parsed.error.issues }, 'invalid turn job payload');
      throw new UnrecoverableError('invalid turn job payload');
    }
    const { sessionKey } = parsed.data;
    const started = performance.now();
    // First runs only (a retry or a resumed stall counts from the first request). The job's creation
    // time is the producer's clock: a skew between hosts could make the wait negative.
    if (job.attemptsMade === 0 && job.stalledCounter === 0) metrics.turnWait.observe(Math.max(0, Date.now() - job.timestamp) / 1000);
    const controller = new AbortController();
    const running: RunningTurn = { controller, messageIds: undefined, early: [], full: false };
    if (opts.interrupt) runningTurns.set(sessionKey, running);
    try {
      return await claimAndRun(job, sessionKey, running, started);
    } finally {
      if (runningTurns.get(sessionKey) === running) runningTurns.delete(sessionKey);
    }
  };

  const claimAndRun = async (job: Job, sessionKey: string, running: RunningTurn, started: number): Promise<string> => {
    const batch = await opts.store.claim(sessionKey, maxBatch);
    if (!batch) {
      metrics.turns.inc({ outcome: 'empty' });
      return 'empty';
    }
    if (batch.unreadable) {
      // Dead-lettered and acknowledged with the batch: an entry no version of the turn can read
      // must not hold the session's later messages back forever.
      for (const u of await opts.store.deadLetterUnreadable(sessionKey, batch)) {
        opts.logger.error({ sessionKey, turnId: batch.turnId, streamId: u.streamId, error: u.error }, 'an inbox entry is not a readable message; dead-lettered');
      }
      if (batch.messages.length === 0) {
        metrics.turns.inc({ outcome: 'failed' });
        await finish(sessionKey, batch);
        return 'failed';
      }
    }
    const { controller } = running;
    running.messageIds = new Set(batch.messages.map((m) => m.id));
    running.full = batch.streamIds.length >= maxBatch;
    if (!running.full && running.early.some((id) => !running.messageIds!.has(id))) controller.abort(new Error('interrupted by a new message'));
    const ctx = new Turn(sessionKey, batch, job, controller.signal, opts.interrupt !== undefined, opts.store, opts.logger);
    metrics.batchSize.observe(batch.messages.length);
    return await runClaimed(job, ctx, batch, started);
  };

  const runClaimed = async (job: Job, ctx: TurnContext, batch: ClaimedBatch, started: number): Promise<string> => {
    const { sessionKey } = ctx;
    if (batch.resumed) metrics.resumed.inc();
    try {
      await opts.handle(ctx);
    } catch (err) {
      if (err instanceof TurnInterruptedError) {
        // Nothing was committed: give the batch back and start over with the newer message too.
        metrics.turns.inc({ outcome: 'interrupted' });
        ctx.log.info('turn interrupted by a new message');
        if (await opts.store.release(sessionKey, batch)) await opts.turns.request(sessionKey);
        return 'interrupted';
      }
      if (err instanceof FencedError) {
        // Another worker owns this batch now; it will acknowledge it. Touch nothing.
        metrics.fenced.inc();
        metrics.turns.inc({ outcome: 'fenced' });
        ctx.log.warn('turn fenced off by a newer worker');
        return 'fenced';
      }
      if (err instanceof TurnParkedError) {
        // Waiting for a person; whoever answers requests the session's turn again. The sweep
        // leaves it be meanwhile (re-running it would only redo its preparation), until it has
        // something to do of its own (err.untilMs) or PARKED_SWEEP_PAUSE_MS, whichever is first,
        // in case the answer's turn request was lost.
        metrics.turns.inc({ outcome: 'parked' });
        ctx.log.info({ reason: err.message }, 'turn parked');
        const pauseMs = Math.min(PARKED_SWEEP_PAUSE_MS, (err.untilMs ?? Infinity) - Date.now());
        await opts.store.markParked(sessionKey, ctx.turnId, pauseMs).catch((markErr: unknown) => ctx.log.warn({ err: markErr }, 'could not mark the turn parked'));
        return 'parked';
      }
      const attempts = job.opts.attempts ?? 1;
      const retryable = !(err instanceof UnrecoverableError) && (err as { retryable?: boolean }).retryable !== false;
      if (retryable && ctx.attempt < attempts) {
        metrics.turns.inc({ outcome: 'retry' });
        ctx.log.warn({ err, attempt: ctx.attempt, attempts }, 'turn failed, will retry');
        throw err;
      }
      if (!(await opts.store.owns(sessionKey, batch))) {
        // A stalled run whose batch was resumed elsewhere: that run answers and acknowledges it.
        metrics.fenced.inc();
        metrics.turns.inc({ outcome: 'fenced' });
        ctx.log.warn({ err }, 'turn failed after a newer run took its batch; left to that run');
        return 'fenced';
      }
      // Give up on this batch so the session is not stuck behind it forever; the user is told.
      ctx.log.error({ err, attempt: ctx.attempt }, 'turn failed for good');
      metrics.turns.inc({ outcome: 'failed' });
      await opts.onGiveUp(ctx, err);
      await opts.store.deadLetter({
        sessionKey,
        turnId: batch.turnId,
        messageIds: batch.messages.map((m) => m.id),
        error: err instanceof Error ? err.message : String(err),
      });
      await finish(sessionKey, batch);
      return 'failed';
    }
    await finish(sessionKey, batch);
    metrics.turns.inc({ outcome: 'ok' });
    metrics.turnDuration.observe((performance.now() - started) / 1000);
    return 'ok';
  };

  async function finish(sessionKey: string, batch: ClaimedBatch): Promise<void> {
    const left = await opts.store.ack(sessionKey, batch, batch.streamIds);
    if (left > 0) await opts.turns.request(sessionKey);
  }

  if (opts.interrupt) {
    const subscriber = opts.interrupt.subscriber;
    subscriber.on('message', (_channel: string, message: string) => {
      const space = message.lastIndexOf(' ');
      const turn = runningTurns.get(message.slice(0, space));
      const id = message.slice(space + 1);
      if (!turn) return;
      if (!turn.messageIds) turn.early.push(id);
      else if (!turn.full && !turn.messageIds.has(id)) turn.controller.abort(new Error('interrupted by a new message'));
    });
    void subscriber.subscribe(opts.store.keys.arrivals).catch((err: unknown) => opts.logger.error({ err }, 'subscribing to arrivals failed'));
  }

  // BullMQ's worker fetches its jobs one at a time (each fetch a Redis round trip that waits its
  // turn on the event loop), so with hundreds of turns at once on a busy loop the fetching, not the
  // free slots, decides how soon a turn starts. One BullMQ worker per TURNS_PER_FETCHER slots keeps
  // that many fetches going at once; together they run exactly `concurrency` turns.
  const concurrency = opts.concurrency ?? 50;
  const fetchers = Math.ceil(concurrency / TURNS_PER_FETCHER);
  const workers = Array.from({ length: fetchers }, (_, i) => {
    const worker = new Worker(TURN_QUEUE.name, processor, {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: Math.floor(concurrency / fetchers) + (i < concurrency % fetchers ? 1 : 0),
      lockDuration: leaseMs,
      stalledInterval: Math.max(500, Math.floor(leaseMs / 2)),
      // A stalled turn is always resumed (it is idempotent); never fail it for stalling.
      maxStalledCount: 1000,
    });
    worker.on('error', (err) => opts.logger.error({ err, queue: TURN_QUEUE.name }, 'turn worker error'));
    return worker;
  });

  /**
   * Where the next sweep goes on in the stale sessions (oldest first). Sessions that stay stale on
   * purpose (parked on an approval for minutes) sit at the front; each sweep takes up to
   * SWEEP_PAGES pages and the next goes on from there, so a session behind them is reached too.
   */
  let sweepOffset = 0;
  const sweepPage = opts.sweepPage ?? SWEEP_PAGE;
  const sweep = setInterval(() => {
    void (async () => {
      const now = Date.now();
      for (let page = 0; page < SWEEP_PAGES; page++) {
        const stale = await opts.store.stalePending(now - 2 * leaseMs, sweepPage, sweepOffset);
        const parked = await opts.store.parkedOf(stale);
        for (const [i, sessionKey] of stale.entries()) if (!parked[i]) await opts.turns.request(sessionKey);
        sweepOffset = stale.length < sweepPage ? 0 : sweepOffset + stale.length;
        if (sweepOffset === 0) break;
      }
      const counts = await opts.turns.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) metrics.depth.set({ queue: TURN_QUEUE.name, state }, n);
      const oldest = await opts.store.oldestPendingMs();
      metrics.oldestAge.set({ queue: TURN_QUEUE.name }, oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000));
    })().catch((err: unknown) => opts.logger.warn({ err }, 'lane sweep failed'));
  }, leaseMs);
  sweep.unref();

  return {
    workers,
    async close() {
      clearInterval(sweep);
      // close() waits for the turns in flight; a turn that outlives the deadline is resumed elsewhere.
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
