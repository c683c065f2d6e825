import { Worker } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { TOOL_QUEUE } from '@switchboard/contracts';
import { createRedis } from '@switchboard/lanes';
import { uniquePrefix } from '@switchboard/testkit';
import { ToolDispatcher } from './tool-dispatch.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const job = { v: 1 as const, turnId: 't1', toolCallId: 'call_1', sessionKey: 'web:local:s', platform: 'web', userId: 'u', tool: 'echo', arguments: { text: 'hi' } };

describe('ToolDispatcher', () => {
  it('takes back a run no runner started in time, so it never runs behind the model’s back', async () => {
    const prefix = uniquePrefix('dispatch');
    const [a, b] = [createRedis(inject('redisUrl')), createRedis(inject('redisUrl'))];
    const dispatcher = new ToolDispatcher(a, b, prefix);
    cleanups.push(async () => {
      await dispatcher.queue.obliterate({ force: true });
      await dispatcher.close();
      a.disconnect();
      b.disconnect();
    });
    // Every runner busy: nobody takes the job within the wait.
    const result = await dispatcher.run(job, 1, 300);
    expect(result).toMatchObject({ ok: false, errorCode: 'timeout', output: expect.stringMatching(/did not start within 300 ms .*it was not run/) });
    expect(await dispatcher.queue.getJob(ToolDispatcher.jobId('t1', 1, 'call_1'))).toBeUndefined();
    // A runner that frees up afterwards finds nothing to run.
    let ran = 0;
    const connection = createRedis(inject('redisUrl'));
    const worker = new Worker(TOOL_QUEUE.name, async () => void ran++, { connection, prefix });
    cleanups.push(async () => {
      await worker.close();
      connection.disconnect();
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(ran).toBe(0);
  });
});
