import type { ChannelMetrics } from '@switchboard/channels';
import type { Logger } from '@switchboard/observability';
import { handleValue, type HandlerDeps } from './handler.ts';
import type { JournalEntry, WebhookJournal } from './journal.ts';
import { validatePayload, WaValue, type WaWebhook } from './payload.ts';

export interface ProcessorOptions {
  journal: WebhookJournal;
  handler: HandlerDeps;
  metrics: ChannelMetrics;
  logger: Logger;
  /** A journal entry not handled within this many ms is handled again by a sweep (default 30 s). */
  staleMs?: number;
  /** How often a replica sweeps the journal, in ms (default 10 s; 0 disables). */
  sweepIntervalMs?: number;
  /** Attempts before an entry that keeps failing is dropped (logged as an error). */
  maxAttempts?: number;
}

/**
 * Handles acknowledged webhook bodies after the 200: one business number's messages from one user
 * go through one promise chain, so they reach their lane in delivery order while other users' run
 * in parallel. A body leaves the journal only once every message in it was handled.
 */
export class WebhookProcessor {
  readonly journal: WebhookJournal;
  private readonly o: ProcessorOptions;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: ProcessorOptions) {
    this.o = opts;
    this.journal = opts.journal;
    const every = opts.sweepIntervalMs ?? 10_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), every);
      this.sweepTimer.unref();
    }
  }

  private inOrder<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  /**
   * Starts handling a body (returns at once; `close` waits for it). `entry` is its journal record;
   * undefined for a body with nothing worth recording (statuses only).
   */
  process(entry: JournalEntry | undefined, payload: WaWebhook): void {
    const work = this.run(entry, payload);
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async run(entry: JournalEntry | undefined, payload: WaWebhook): Promise<void> {
    if (!entry) return this.handle(undefined, payload);
    // Still ours: a sweep (here or on another replica) must not start the same body again
    // while it is being handled, fetching its media twice.
    const staleMs = this.o.staleMs ?? 30_000;
    const touch = setInterval(() => void this.journal.touch(entry.id).catch(() => undefined), Math.max(50, Math.floor(staleMs / 3)));
    touch.unref();
    try {
      await this.handle(entry, payload);
    } finally {
      clearInterval(touch);
    }
  }

  private async handle(entry: JournalEntry | undefined, payload: WaWebhook): Promise<void> {
    const { logger: log, metrics } = this.o;
    const values = payload.entry.flatMap((e) => e.changes.filter((c) => c.field === 'messages').map((c) => WaValue.parse(c.value)));
    // Each value's messages in order, chained per (business number, sender); values run side by side.
    const results = await Promise.allSettled(
      values.flatMap((value) => {
        const senders = [...new Set((value.messages ?? []).map((m) => m.from))];
        if (senders.length === 0) return [handleValue(this.o.handler, value)];
        return senders.map((from) =>
          this.inOrder(`${value.metadata.phone_number_id}:${from}`, () =>
            handleValue(this.o.handler, { ...value, messages: value.messages!.filter((m) => m.from === from), statuses: from === senders[0] ? value.statuses : [] }),
          ),
        );
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const r of results) if (r.status === 'fulfilled') for (const outcome of r.value) metrics.updates.inc({ platform: 'whatsapp', outcome });
    if (!entry) {
      for (const r of failed) log.warn({ err: r.reason }, 'whatsapp: handling a status delivery failed');
      return;
    }
    if (failed.length === 0) {
      await this.journal.done(entry.id).catch((err: unknown) => log.warn({ err }, 'whatsapp: could not clear a handled journal entry; it will be handled again (deduplicated)'));
      return;
    }
    const attempts = await this.journal.attempt(entry.id).catch(() => 0);
    if (attempts >= (this.o.maxAttempts ?? 10)) {
      log.error({ err: failed[0]!.reason, journalId: entry.id, attempts }, 'whatsapp: a delivery keeps failing; dropping it');
      metrics.updates.inc({ platform: 'whatsapp', outcome: 'failed' });
      await this.journal.done(entry.id).catch(() => undefined);
      return;
    }
    log.warn({ err: failed[0]!.reason, journalId: entry.id, attempts }, 'whatsapp: handling a delivery failed; a sweep will retry it');
  }

  /** Handles journal entries a replica acknowledged but did not finish (crash, Redis hiccup). */
  async sweep(): Promise<number> {
    if (this.closed) return 0;
    let entries: JournalEntry[];
    try {
      entries = await this.journal.claimStale(this.o.staleMs ?? 30_000);
    } catch (err) {
      this.o.logger.warn({ err }, 'whatsapp: journal sweep failed');
      return 0;
    }
    for (const entry of entries) {
      const checked = validatePayload(Buffer.from(entry.body, 'utf8'));
      if (!checked.ok) {
        await this.journal.done(entry.id).catch(() => undefined);
        continue;
      }
      this.o.logger.info({ journalId: entry.id }, 'whatsapp: handling an unfinished delivery again');
      this.process(entry, checked.payload);
    }
    return entries.length;
  }

  /** Stops sweeping and waits for bodies in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    await Promise.allSettled([...this.inFlight]);
  }
}
