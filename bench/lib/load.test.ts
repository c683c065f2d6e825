import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedLoop } from './load.ts';

// A stand-in for the system's chat completions route: echoes the last message at once.
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const text = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
      res.end(JSON.stringify({ choices: [{ message: { content: `echo: ${text}` } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('closedLoop', () => {
  it('opens and closes the measured window exactly once per run, even when the last answer beats the end timer', async () => {
    // The loop stops at its first answer past the window's end; the end snapshot must still be taken
    // (it was skipped when that answer came before the window's timer fired: a scenario with no CPU
    // figures). With instant answers and 10 ms windows that happened in ~4% of runs, so 150 runs
    // catch it all but ~0.2% of the time.
    const runs = 150;
    let starts = 0;
    let ends = 0;
    for (let i = 0; i < runs; i++) {
      const result = await closedLoop(url, `t${i}`, 1, 10, 2, { onStart: async () => void starts++, onEnd: async () => void ends++ });
      // (On a loaded machine a 10 ms window may hold no answer at all; only the edges matter here.)
      expect(result.errors).toBe(0);
    }
    expect({ starts, ends }).toEqual({ starts: runs, ends: runs });
  });
});
