/**
 * The schedule tool lists and cancels only its own conversation's schedules: in a group chat with
 * a session per user (or per thread), another session's schedules are not its to see or cancel.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis } from '@switchboard/lanes';
import { Scheduler, type ScheduleLimits } from '@switchboard/scheduler';
import { uniquePrefix } from '@switchboard/testkit';
import { runTool } from '../run-tool.ts';
import { createScheduleTool } from './schedule.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function setup(limits?: ScheduleLimits) {
  const redis = createRedis(inject('redisUrl'));
  const prefix = uniquePrefix('schedtool');
  const scheduler = new Scheduler(redis, prefix, limits);
  cleanups.push(async () => {
    await scheduler.queue.obliterate({ force: true });
    await scheduler.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  const tool = createScheduleTool(scheduler);
  /** A call from the session of `user` (and `thread`) in one Telegram group. */
  const call = (who: { user: string; thread?: string }, args: Record<string, unknown>) =>
    runTool(
      tool,
      {
        v: 1,
        turnId: `t-${who.user}`,
        toolCallId: `c-${Math.random()}`,
        platform: 'telegram',
        userId: who.user,
        tool: 'schedule',
        arguments: args,
        sessionKey: `telegram:bot1:-1001${who.thread ? `:t=${who.thread}` : ''}:u=${who.user}`,
        account: 'bot1',
        chatId: '-1001',
        ...(who.thread ? { threadId: who.thread } : {}),
      },
      { maxOutputBytes: 16_384 },
    );
  return { call };
}

describe('schedule tool', () => {
  it("lists and cancels this session's schedules (and its isolated ones), not another user's or thread's in the same chat", async () => {
    const { call } = setup();
    const create = async (who: { user: string; thread?: string }, message: string, isolated = false) => {
      const made = await call(who, { action: 'create', message, everyMs: 3_600_000, ...(isolated ? { isolated } : {}) });
      expect(made.ok, made.output).toBe(true);
      return made.output.replace('scheduled ', '');
    };
    const alice = await create({ user: 'alice' }, 'alice: call the doctor');
    const aliceIsolated = await create({ user: 'alice' }, 'alice: weekly digest', true);
    const aliceThread = await create({ user: 'alice', thread: '7' }, 'alice in thread 7');
    const bob = await create({ user: 'bob' }, 'bob: water the plants');

    const listed = async (who: { user: string; thread?: string }) => (JSON.parse((await call(who, { action: 'list' })).output) as Array<{ id: string }>).map((s) => s.id).sort();
    expect(await listed({ user: 'alice' })).toEqual([alice, aliceIsolated].sort());
    expect(await listed({ user: 'alice', thread: '7' })).toEqual([aliceThread]);
    expect(await listed({ user: 'bob' })).toEqual([bob]);

    const bobCancels = await call({ user: 'bob' }, { action: 'cancel', id: alice });
    expect(bobCancels).toMatchObject({ ok: false, errorCode: 'not_found' });
    expect(await listed({ user: 'alice' })).toEqual([alice, aliceIsolated].sort());
    expect(await call({ user: 'alice' }, { action: 'cancel', id: aliceIsolated })).toMatchObject({ ok: true, output: `cancelled ${aliceIsolated}` });
    expect(await listed({ user: 'alice' })).toEqual([alice]);
  });

  it('refuses a schedule past the conversation’s limit with limit_reached, which the model can act on', async () => {
    const { call } = setup({ perConversation: 2, perAccount: 100 });
    for (const message of ['one', 'two']) expect((await call({ user: 'carol' }, { action: 'create', message, everyMs: 3_600_000 })).ok).toBe(true);
    const third = await call({ user: 'carol' }, { action: 'create', message: 'three', everyMs: 3_600_000, isolated: true });
    expect(third).toMatchObject({ ok: false, errorCode: 'limit_reached' });
    expect(third.output).toContain('this conversation has 2 schedules');
    expect(JSON.parse((await call({ user: 'carol' }, { action: 'list' })).output)).toHaveLength(2);
    // Another user's conversation in the same group is its own.
    expect((await call({ user: 'dave' }, { action: 'create', message: 'mine', everyMs: 3_600_000 })).ok).toBe(true);
  });
});
