/**
 * Coalesces streamed text fragments and flushes them at most every `intervalMs`, so a fast model
 * does not turn into one Redis write per token. Flushes are chained, so they stay in order. An
 * answer that completes within the first interval is not streamed at all: the reply, delivered
 * right after, carries the whole text, and readers handle a reply without deltas.
 */
export class DeltaBuffer {
  private pending = '';
  /** Whether any text went out. */
  flushed = false;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly flushFn: (text: string) => Promise<unknown>;
  private readonly onError: (err: unknown) => void;
  private readonly intervalMs: number;

  /** A failed flush loses only that fragment of the live stream (the final reply is delivered whole), so it is reported, not thrown. */
  constructor(flushFn: (text: string) => Promise<unknown>, onError: (err: unknown) => void, intervalMs = 50) {
    this.flushFn = flushFn;
    this.onError = onError;
    this.intervalMs = intervalMs;
  }

  push(text: string): void {
    this.pending += text;
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.flushed = true;
    this.chain = this.chain.then(() => this.flushFn(text)).then(() => undefined, this.onError);
  }

  /** Flushes what is left (or drops it, with `discard`) and waits for every flush to finish. */
  async close(discard = false): Promise<void> {
    if (discard) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.pending = '';
    }
    this.flush();
    await this.chain;
  }
}
