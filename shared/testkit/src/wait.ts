/**
 * Polls `condition` until it returns a truthy value or `timeoutMs` passes (default 10 s).
 * Use this instead of sleeps: it returns as soon as the work is done.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`${opts.message ?? 'condition'} not met within ${opts.timeoutMs ?? 10_000} ms${reason}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}

let counter = 0;
/** A key prefix unique to this test process and call, for Redis keys and BullMQ queues. */
export function uniquePrefix(label = 't'): string {
  counter += 1;
  return `${label}${process.pid}x${counter}x${Math.random().toString(36).slice(2, 7)}`;
}
