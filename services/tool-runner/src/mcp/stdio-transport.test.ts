import { describe, expect, it } from 'vitest';
import { waitFor } from '@switchboard/testkit';
import { boundedLines, ChildProcessTransport } from './stdio-transport.ts';

/** A transport running `node -e script` with PATH only. */
function transport(script: string, opts: { onStderr?: (line: string) => void; maxMessageBytes?: number } = {}) {
  return new ChildProcessTransport({
    command: process.execPath,
    args: ['-e', script],
    env: { PATH: process.env.PATH ?? '' },
    gracefulExitMs: 200,
    ...opts,
  });
}

describe('ChildProcessTransport', () => {
  it('reports an endless stderr line cut as soon as it is 1000 characters long, without waiting for its end', async () => {
    const lines: string[] = [];
    const t = transport(`process.stderr.write('first\\r\\n' + 'x'.repeat(200000)); setInterval(() => process.stderr.write('y'.repeat(65536)), 5)`, {
      onStderr: (line) => lines.push(line),
    });
    await t.start();
    try {
      await waitFor(() => lines.length === 2);
      expect(lines).toEqual(['first', `${'x'.repeat(1000)}…`]);
    } finally {
      await t.close();
    }
  });

  it('drops a server that writes more than maxMessageBytes on stdout without ending a message', async () => {
    const errors: Error[] = [];
    let closed = false;
    const t = transport(`setInterval(() => process.stdout.write('{'.repeat(65536)), 5)`, { maxMessageBytes: 1_000_000 });
    t.onerror = (err) => errors.push(err);
    t.onclose = () => {
      closed = true;
    };
    await t.start();
    await waitFor(() => closed);
    expect(errors.map((e) => e.message)).toEqual(['the server wrote more than 1000000 bytes without ending a message; disconnecting']);
  });
});

describe('boundedLines', () => {
  it('joins lines across chunks, strips CR, cuts long lines once and reports a last unterminated line', () => {
    const lines: string[] = [];
    const split = boundedLines((l) => lines.push(l), 5);
    for (const chunk of ['ab', 'c\r\nde', 'f\n123456789', '0\nok\n', 'tail']) split.push(chunk);
    split.end();
    expect(lines).toEqual(['abc', 'def', '12345…', 'ok', 'tail']);
  });
});
