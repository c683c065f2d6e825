/**
 * Runs the calls given under one key one after another, in the order they were given; calls under
 * other keys run alongside. A call runs whether the one before it succeeded or failed. A key is
 * forgotten once its last call has settled, so idle keys cost nothing.
 */
export class KeyedSerial {
  private readonly chains = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  /** Keys with calls queued or running. */
  get size(): number {
    return this.chains.size;
  }

  /** Settles once everything queued so far, under every key, has settled. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** For each busy key, a promise that settles once what is queued under it now has settled. */
  snapshot(): Map<string, Promise<unknown>> {
    return new Map(this.chains);
  }
}
