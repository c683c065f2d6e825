import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readEventStream } from './event-stream.ts';

/** Collects what `readEventStream` passes on, and how it ended. */
async function read(body: Readable, onEvent?: (data: unknown) => void) {
  const events: Array<[unknown, string | undefined]> = [];
  const outcome = await readEventStream(body, (data, event) => {
    events.push([data, event]);
    onEvent?.(data);
  }).then(
    () => 'resolved' as const,
    (error: unknown) => error as Error & { code?: string },
  );
  return { events, outcome };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('readEventStream', () => {
  it('parses events split anywhere across chunks, with their names, and stops at [DONE]', async () => {
    const wire = 'data: {"a":"héllo ✓"}\n\n: a comment\nevent: note\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\ndata: {"after":true}\n\n';
    // One byte per chunk: no event may depend on where the socket's reads happen to split.
    const body = Readable.from([...Buffer.from(wire)].map((b) => Buffer.from([b])));
    const { events, outcome } = await read(body);
    expect(outcome).toBe('resolved');
    expect(events).toEqual([
      [{ a: 'héllo ✓' }, undefined],
      [{ b: 2 }, 'note'],
    ]);
  });

  it('reads on after [DONE] until the body ends, so its connection can be reused', async () => {
    const body = new PassThrough();
    const done = read(body);
    body.write('data: {"a":1}\n\ndata: [DONE]\n\n');
    expect((await done).outcome).toBe('resolved');
    body.end('data: {"late":1}\n\n');
    // Destroyed at [DONE], the body would close without ever ending.
    await new Promise((resolve) => body.once('close', resolve));
    expect(body.readableEnded).toBe(true);
  });

  it('drops its drain timer as soon as the body ends after [DONE] (it holds the response and the caller)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const body = new PassThrough();
    const done = readEventStream(body, () => {});
    body.write('data: {"a":1}\n\ndata: [DONE]\n\n');
    await done;
    expect(vi.getTimerCount()).toBe(1);
    body.end();
    body.resume();
    await new Promise((resolve) => body.once('close', resolve));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('closes a body the server keeps open after [DONE]', async () => {
    const body = new PassThrough();
    const done = readEventStream(body, () => {}, { drainMs: 20 });
    body.write('data: {"a":1}\n\ndata: [DONE]\n\n');
    await done;
    expect(body.destroyed).toBe(false);
    await new Promise((resolve) => body.once('close', resolve));
    expect(body.readableEnded).toBe(false);
  });

  it('passes on no event once the body is destroyed, even from a chunk already read', async () => {
    const body = new PassThrough();
    const seen: unknown[] = [];
    const done = readEventStream(body, (data) => {
      seen.push(data);
      body.destroy(new DOMException('aborted', 'AbortError')); // what an abort does to the response
    });
    body.write('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\n');
    await expect(done).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('resolves at the end of a body without [DONE] (the caller decides whether it was complete)', async () => {
    expect(await read(Readable.from(['data: {"a":1}\n\n']))).toEqual({ events: [[{ a: 1 }, undefined]], outcome: 'resolved' });
  });

  it('rejects data that is not JSON with a SyntaxError and destroys the body', async () => {
    const body = new PassThrough();
    const done = read(body);
    body.write('data: {"a":1}\n\ndata: {oops\n\n');
    const { events, outcome } = await done;
    expect(events).toHaveLength(1);
    expect(outcome).toBeInstanceOf(SyntaxError);
    expect((outcome as Error).message).not.toContain('oops'); // the model's output stays out of logs
    expect(body.destroyed).toBe(true);
  });

  it("rejects with the handler's own error and reads no further", async () => {
    const boom = new Error('sink closed');
    const body = new PassThrough();
    const done = read(body, () => {
      throw boom;
    });
    body.write('data: {"a":1}\n\ndata: {"a":2}\n\n');
    const { events, outcome } = await done;
    expect(outcome).toBe(boom);
    expect(events).toHaveLength(1);
    expect(body.destroyed).toBe(true);
  });

  it("rejects with the body's error, and with ECONNRESET when it closes before its end", async () => {
    const failing = new PassThrough();
    const failed = read(failing);
    failing.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    expect((await failed).outcome).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });

    const closing = new PassThrough();
    const closed = read(closing);
    closing.write('data: {"a":1}\n\n');
    await new Promise((resolve) => setImmediate(resolve));
    closing.destroy();
    const { events, outcome } = await closed;
    expect(events).toHaveLength(1);
    expect(outcome).toMatchObject({ code: 'ECONNRESET' });
  });
});
