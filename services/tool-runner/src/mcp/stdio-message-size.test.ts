/**
 * Before the fix: The README and `maxMessageBytes` promise
 * that a stdio server may write up to 64 MiB in one message and is dropped only past that. But
 * messages are assembled by the SDK's `ReadBuffer`, created with its default `maxBufferSize` of
 * 10 MiB, which throws first: every answer between 10 and 64 MiB (a large file, an image as
 * base64) makes the runner drop the connection as broken and kill the server. The SDK's buffer also
 * concatenates every chunk onto the whole pending message and scans it all again for a newline, so
 * simply raising its limit to 64 MiB would cost time quadratic in the message size, on the runner's
 * event loop.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '@switchboard/testkit';
import { ChildProcessTransport } from './stdio-transport.ts';

function transport(script: string) {
  return new ChildProcessTransport({ command: process.execPath, args: ['-e', script], env: { PATH: process.env.PATH ?? '' }, gracefulExitMs: 200 });
}

/** A server that writes one notification carrying `mib` MiB of text, then a small one, in 64 KiB writes. */
const bigThenSmall = (mib: number) => `
  const big = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(${mib} * 1024 * 1024) } }) + '\\n';
  const small = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'done' } }) + '\\n';
  const buf = Buffer.from(big + small);
  let at = 0;
  (function next() {
    while (at < buf.length) {
      const ok = process.stdout.write(buf.subarray(at, at + 65536));
      at += 65536;
      if (!ok) return process.stdout.once('drain', next);
    }
  })();
  setInterval(() => {}, 1000);
`;

describe('ChildProcessTransport: messages between 10 and 64 MiB', () => {
  it('delivers a 40 MiB message, as the 64 MiB limit allows, in linear time', async () => {
    const received: Array<{ method?: string; size: number }> = [];
    const errors: string[] = [];
    const t = transport(bigThenSmall(40));
    t.onmessage = (m) => received.push({ method: (m as { method?: string }).method, size: JSON.stringify(m).length });
    t.onerror = (err) => errors.push(err.message);
    const started = Date.now();
    await t.start();
    try {
      await waitFor(() => received.length === 2 || errors.length > 0, { timeoutMs: 20_000 });
      expect(errors).toEqual([]);
      expect(received[0]!.size).toBeGreaterThan(40 * 1024 * 1024);
      // Linear: a quadratic buffer needs many seconds for 40 MiB in 64 KiB pieces.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await t.close();
    }
  }, 30_000);
});
