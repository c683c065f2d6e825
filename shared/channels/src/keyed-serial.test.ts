import { describe, expect, it } from 'vitest';
import { KeyedSerial } from './keyed-serial.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyedSerial', () => {
  it('runs one key’s calls in order, a failure included, other keys alongside, and forgets idle keys', async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) => async () => {
      await sleep(ms);
      log.push(name);
      if (fail) throw new Error(name);
      return name;
    };
    const a1 = serial.run('a', step('a1', 60, true));
    const a2 = serial.run('a', step('a2', 0));
    const b1 = serial.run('b', step('b1', 10));
    expect(serial.size).toBe(2);
    await expect(a1).rejects.toThrow('a1');
    expect(await a2).toBe('a2');
    expect(await b1).toBe('b1');
    expect(log).toEqual(['b1', 'a1', 'a2']);
    await serial.idle();
    expect(serial.size).toBe(0);
  });
});
