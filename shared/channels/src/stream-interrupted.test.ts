/**
 * A turn that streamed a draft and then never gets a `reply` or
 * `turn_error` under its own turn id stays in `Follow.turns` for good. In interrupt mode
 * (LANE_MODE=interrupt) that happens to every interrupted turn: LaneStore.release gives the batch
 * back and the next claim announces it under a NEW turn id (`<digest>-<first>.1`), so the old id
 * is never answered. The follow then never ends at the answer (`f.turns.size > 0`), the typing
 * indicator keeps firing, and every later accepted message refreshes the follow's timer, so in an
 * active chat the follow lives for as long as the chat does, adding one `started` entry per turn
 * and one TurnDraft (with the whole partial text) per interrupted turn.
 *
 * These tests drive the real lane scripts (claim / release / claim, which write the
 * `turn_started` events) and the real EventHub on the test Redis.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, EventHub, LaneStore } from '@switchboard/lanes';
import { createLogger } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { DraftStore } from './outbound.ts';
import { ReplyStreamer, type DraftSurface } from './stream.ts';

const SESSION = 'telegram:bot:chat1';
const TARGET = { account: 'bot', chatId: 'chat1' };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function msg(text: string) {
  return { v: 1 as const, platform: 'telegram', sessionKey: SESSION, account: 'bot', chatId: 'chat1', userId: 'u1', kind: 'user' as const, text, receivedAtMs: Date.now() };
}

function setup() {
  const prefix = uniquePrefix('streamprobe');
  const redis = createRedis(inject('redisUrl'));
  const subscriber = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const logger = createLogger({ service: 'test', level: 'silent' });
  const hub = new EventHub(subscriber, store, logger, 100);
  const drafts = new DraftStore(redis, prefix, 'test');
  let typing = 0;
  let posts = 0;
  const removed: string[] = [];
  const surface: DraftSurface = {
    async post() {
      posts += 1;
      return `m${posts}`;
    },
    async edit() {},
    async remove(_target, messageId) {
      removed.push(messageId);
    },
    async typing() {
      typing += 1;
    },
  };
  const streamer = new ReplyStreamer({ hub, redis, store, drafts, surface, logger, editIntervalMs: 20, typingIntervalMs: 30, maxDraftChars: 4000 });
  cleanups.push(async () => {
    streamer.close();
    await hub.close();
    subscriber.disconnect();
    redis.disconnect();
  });
  const internals = () => (streamer as unknown as { follows: Map<string, { turns: Map<string, unknown>; started: Map<string, unknown> }> }).follows;

  /**
   * One user message answered after an interruption, as the lane worker in interrupt mode does it:
   * claim [a] → stream a delta → message b arrives → release → claim [a, b] under a new turn id →
   * stream → reply to both → ack.
   */
  async function interruptedExchange(n: number): Promise<void> {
    const a = await store.append(msg(`first ${n}`));
    await streamer.follow(SESSION, TARGET, a.messageId); // channel onAccepted
    const first = (await store.claim(SESSION, 20))!;
    await store.appendEvent(SESSION, { type: 'delta', turnId: first.turnId, text: `partial answer ${n}`, attempt: first.fence });
    await waitFor(() => posts >= n, { message: `draft of turn ${first.turnId}` });
    const b = await store.append(msg(`second ${n}`));
    await streamer.follow(SESSION, TARGET, b.messageId);
    expect(await store.release(SESSION, first)).toBe(true); // TurnInterruptedError path of lane-worker
    const second = (await store.claim(SESSION, 20))!;
    expect(second.turnId).not.toBe(first.turnId);
    await store.appendEvent(SESSION, { type: 'delta', turnId: second.turnId, text: `full answer ${n}`, attempt: second.fence });
    await store.appendEvent(SESSION, { type: 'reply', turnId: second.turnId, replyId: `reply-${second.turnId}`, text: `full answer ${n}`, inReplyTo: [a.messageId, b.messageId] });
    await drafts.delivered(second.turnId);
    await store.ack(SESSION, second, second.streamIds);
  }

  return { streamer, store, internals, interruptedExchange, typingCalls: () => typing, removed };
}

describe('ReplyStreamer: turns that never answer in their chat', () => {
  it('stops following and typing once every accepted message is answered, even when a turn was interrupted', async () => {
    const s = setup();
    await s.interruptedExchange(1);
    await sleep(200); // the reply reaches the streamer
    const before = s.typingCalls();
    await sleep(300); // ten typing intervals
    const follow = s.internals().get(SESSION);
    expect({
      typingCallsAfterAnswer: s.typingCalls() - before,
      stillFollowing: follow !== undefined,
      retainedTurnDrafts: follow?.turns.size ?? 0,
    }).toEqual({ typingCallsAfterAnswer: 0, stillFollowing: false, retainedTurnDrafts: 0 });
    // The interrupted turn's half-written draft is deleted: the newer turn answers its message.
    expect(s.removed).toEqual(['m1']);
  });

  it('does not accumulate per-turn state while a chat stays active', async () => {
    const s = setup();
    const N = 5;
    for (let n = 1; n <= N; n++) await s.interruptedExchange(n);
    await sleep(200);
    const follow = s.internals().get(SESSION);
    // Before the fix: one follow for the session with N interrupted TurnDrafts and 2N started entries.
    expect({ follows: s.internals().size, turnDrafts: follow?.turns.size ?? 0, startedTurns: follow?.started.size ?? 0 }).toEqual({
      follows: 0,
      turnDrafts: 0,
      startedTurns: 0,
    });
  });

  it('remembers at most 100 started turns that never answer here (runs delivered to another chat)', async () => {
    const s = setup();
    const a = await s.store.append(msg('hello'));
    await s.streamer.follow(SESSION, TARGET, a.messageId);
    for (let n = 0; n < 150; n++) await s.store.appendEvent(SESSION, { type: 'turn_started', turnId: `run-${n}`, messageIds: [`run-msg-${n}`] });
    await waitFor(() => s.internals().get(SESSION)?.started.has('run-149') === true, { message: 'the last run seen' });
    const started = [...s.internals().get(SESSION)!.started.keys()];
    expect({ size: started.length, oldest: started[0] }).toEqual({ size: 100, oldest: 'run-50' });
  });
});
