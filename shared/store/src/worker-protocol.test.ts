import { describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { deserializeError } from './threaded-pglite-database.ts';
import { detachBytes, restoreBuffers, serializeError } from './worker-protocol.ts';

/** What `postMessage` does to a value. */
const clone = <T>(value: T): T => structuredClone(value);

describe('errors crossing the worker boundary', () => {
  it('keeps a database error’s SQLSTATE and fields, which structured clone alone would drop', () => {
    const err = Object.assign(new Error('duplicate key value violates unique constraint "sessions_pkey"'), {
      name: 'error',
      code: '23505',
      detail: 'Key (id)=(s1) already exists.',
      constraint: 'sessions_pkey',
      params: ['s1'],
      queryOptions: { rowMode: () => 'not cloneable' },
    });
    expect((clone(err) as unknown as { code?: string }).code).toBeUndefined();
    const back = deserializeError(clone(serializeError(err)));
    expect(back).toBeInstanceOf(Error);
    expect(back).toMatchObject({ name: 'error', message: err.message, code: '23505', detail: err.detail, constraint: 'sessions_pkey', params: ['s1'] });
    expect(back.stack).toBe(err.stack);
  });

  it('rebuilds a SwitchboardError as one, with its code, retryability and cause', () => {
    const err = new SwitchboardError('handler_error', 'migration 002 failed', { cause: Object.assign(new Error('boom'), { code: '42601' }) });
    const back = deserializeError(clone(serializeError(err)));
    expect(back).toBeInstanceOf(SwitchboardError);
    expect(back).toMatchObject({ code: 'handler_error', retryable: false, message: 'migration 002 failed' });
    expect(back.cause).toMatchObject({ message: 'boom', code: '42601' });
  });

  it('turns a thrown non-Error into an Error', () => {
    expect(deserializeError(clone(serializeError('plain string')))).toMatchObject({ message: 'plain string' });
  });
});

describe('bytea values crossing the worker boundary', () => {
  it('come back as Buffers with only their own bytes, also inside arrays', () => {
    const pooled = Buffer.from('00ff', 'hex'); // a slice of Node's shared 8 KiB pool
    expect(pooled.buffer.byteLength).toBeGreaterThan(2);
    const rows: Array<Record<string, unknown>> = [{ bin: pooled, list: [Buffer.from('a'), null], text: 'x', json: { a: [1] } }];
    expect(detachBytes(rows)).toBe(true);
    const received = clone(rows);
    expect(Buffer.isBuffer(received[0]!.bin)).toBe(false);
    restoreBuffers(received);
    expect(received).toEqual([{ bin: Buffer.from([0, 255]), list: [Buffer.from('a'), null], text: 'x', json: { a: [1] } }]);
    expect(Buffer.isBuffer(received[0]!.bin)).toBe(true);
    expect((received[0]!.bin as Buffer).buffer.byteLength).toBe(2);
  });

  it('reports rows without bytea so the main thread can skip the walk', () => {
    expect(detachBytes([{ a: 1, b: [1, 2], c: new Date(0) }])).toBe(false);
  });
});
