import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedis, EventHub, LaneStore } from '@switchboard/lanes';
import { createLogger } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import { DraftStore } from './outbound.ts';
import { ReplyStreamer, type DraftSurface } from './stream.ts';

const SESSION = 'test:bot:chat1';
const TARGET = { account: 'bot', chatId: 'chat1' };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A streamer on the test Redis with an in-memory surface that records what a chat would show. */
function setup(opts: { postDelayMs?: number; lockMs?: number } = {}) {
  /** Drafts the user deleted: editing one fails as the platform's "message not found" does. */
  const deleted = new Set<string>();
  let editCalls = 0;
  const prefix = uniquePrefix('stream');
  const redis = createRedis(inject('redisUrl'));
  const subscriber = createRedis(inject('redisUrl'));
  const store = new LaneStore(redis, { prefix });
  const logger = createLogger({ service: 'test', level: 'silent' });
  const hub = new EventHub(subscriber, store, logger, 100);
  const drafts = new DraftStore(redis, prefix, 'test', opts.lockMs ? { lockMs: opts.lockMs } : {});
  const shown = new Map<string, string>();
  /** Texts edited in as a draft's final text (a surface that spaces edits must not skip these). */
  const finals: string[] = [];
  /** The turn of each draft posted. */
  const posts: Array<string | undefined> = [];
  let typing = 0;
  /** Drafts taken down again. */
  const removed: string[] = [];
  let posting = false;
  const surface: DraftSurface = {
    async post(_target, text, postOpts) {
      posts.push(postOpts?.turnId);
      posting = true;
      if (opts.postDelayMs) await new Promise((r) => setTimeout(r, opts.postDelayMs));
      posting = false;
      const id = `m${shown.size + removed.length + 1}`;
      shown.set(id, text);
      return id;
    },
    async remove(_target, id) {
      shown.delete(id);
      removed.push(id);
    },
    async edit(_target, id, text, opts) {
      editCalls += 1;
      if (deleted.has(id)) throw Object.assign(new Error('message to edit not found'), { gone: true });
      shown.set(id, text);
      if (opts?.final) finals.push(text);
    },
    async typing() {
      typing += 1;
    },
    uneditable: (err) => (err as { gone?: boolean }).gone === true,
  };
  const streamer = new ReplyStreamer({ hub, redis, store, drafts, surface, logger, editIntervalMs: 20, typingIntervalMs: 50, maxDraftChars: 100 });
  cleanups.push(async () => {
    streamer.close();
    await hub.close();
    subscriber.disconnect();
    redis.disconnect();
  });
  const event = (e: Parameters<LaneStore['appendEvent']>[1]) => store.appendEvent(SESSION, e);
  /** The user deletes a draft. */
  const userDeletes = (id: string) => {
    deleted.add(id);
    shown.delete(id);
  };
  return { streamer, drafts, shown, finals, posts, removed, event, userDeletes, editCalls: () => editCalls, typingCalls: () => typing, posting: () => posting };
}

describe('ReplyStreamer', () => {
  it('follows a session once when two of its messages are accepted at the same time, and stops typing after the answer', async () => {
    const s = setup();
    await Promise.all([s.streamer.follow(SESSION, TARGET, 'in1'), s.streamer.follow(SESSION, TARGET, 'in2')]);
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1', 'in2'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'both' });
    await waitFor(() => s.posts.length === 1);
    await s.event({ type: 'reply', turnId: 't1', replyId: 'r1', text: 'both', inReplyTo: ['in1', 'in2'] });
    await new Promise((r) => setTimeout(r, 300));
    expect(s.posts).toEqual(['t1']); // one draft, posted for its turn
    const after = s.typingCalls();
    await new Promise((r) => setTimeout(r, 300));
    expect(s.typingCalls() - after).toBe(0);
  });

  it('stops editing a draft the user deleted (every later edit would fail), and posts no other', async () => {
    const s = setup();
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'Hello' });
    await waitFor(() => s.shown.get('m1') === 'Hello …');
    s.userDeletes('m1');
    await s.event({ type: 'delta', turnId: 't1', text: ' there' });
    await waitFor(() => s.editCalls() === 1); // the first edit after the deletion finds the draft gone
    for (const word of [' and', ' more', ' words']) {
      await s.event({ type: 'delta', turnId: 't1', text: word });
      await new Promise((r) => setTimeout(r, 60)); // three edit intervals each
    }
    expect(s.editCalls()).toBe(1);
    expect(s.posts).toEqual(['t1']);
    expect([...s.shown.keys()]).toEqual([]);
    // The final reply does not try it either: it goes out as a new message.
    expect(await s.drafts.get('t1')).toBeUndefined();
    // Nor does a failed turn's note.
    await s.event({ type: 'turn_error', turnId: 't1', code: 'model_error', message: 'boom', inReplyTo: ['in1'] });
    await new Promise((r) => setTimeout(r, 100));
    expect(s.editCalls()).toBe(1);
  });

  it('picks up a turn that started before it was asked to follow, from its first delta', async () => {
    const s = setup();
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'Hello ' });
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'delta', turnId: 't1', text: 'world' });
    await waitFor(() => s.shown.get('m1') === 'Hello world …');
    expect(s.typingCalls()).toBeGreaterThan(0);
    await s.event({ type: 'reply', turnId: 't1', replyId: 'r1', text: 'Hello world', inReplyTo: ['in1'] });
    // Following ends with the answer: no more typing.
    await new Promise((r) => setTimeout(r, 100));
    const calls = s.typingCalls();
    await new Promise((r) => setTimeout(r, 150));
    expect(s.typingCalls()).toBe(calls);
  });

  it('keeps following while the accepted message waits for a later turn, and streams only turns it saw start', async () => {
    const s = setup();
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.streamer.follow(SESSION, TARGET, 'in2');
    await s.event({ type: 'delta', turnId: 't1', text: 'answer one' });
    await s.event({ type: 'reply', turnId: 't1', replyId: 'r1', text: 'answer one', inReplyTo: ['in1'] });
    await s.drafts.delivered('t1');
    await s.event({ type: 'turn_started', turnId: 't2', messageIds: ['in2'] });
    await s.event({ type: 'delta', turnId: 't2', text: 'answer two' });
    await waitFor(() => [...s.shown.values()].includes('answer two …'));
    // t1 was joined halfway (no turn_started seen): it got no draft.
    expect([...s.shown.values()]).toEqual(['answer two …']);
  });

  it('holds a new draft back until an earlier reply reached the platform', async () => {
    const s = setup();
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'reply', turnId: 't1', replyId: 'r1', text: 'first', inReplyTo: ['in1'] });
    await s.streamer.follow(SESSION, TARGET, 'in2');
    await s.event({ type: 'turn_started', turnId: 't2', messageIds: ['in2'] });
    await s.event({ type: 'delta', turnId: 't2', text: 'second' });
    await new Promise((r) => setTimeout(r, 300));
    expect(s.shown.size).toBe(0);
    await s.drafts.delivered('t1');
    await waitFor(() => s.shown.get('m1') === 'second …');
  });

  it('posts nothing for a turn already final, and gives its draft slot back', async () => {
    const s = setup();
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.drafts.finish('t1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'too late' });
    await waitFor(async () => (await s.drafts.get('t1')) === undefined && s.typingCalls() > 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.shown.size).toBe(0);
    expect(await s.drafts.get('t1')).toBeUndefined();
  });

  it('keeps its edit lock for as long as a draft post takes, so the final reply waits for the draft', async () => {
    const s = setup({ postDelayMs: 3000, lockMs: 1000 });
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'slow' });
    await waitFor(() => s.posting());
    // What the outbound worker does before its final edit.
    await s.drafts.finish('t1');
    await s.drafts.waitForEdits('t1', 5000);
    expect(await s.drafts.get('t1')).toBe('m1');
    expect(s.shown.get('m1')).toBe('slow …');
  });

  it('takes down a draft posted after the final reply stopped waiting for it', async () => {
    const s = setup({ postDelayMs: 2000 });
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'too slow' });
    await waitFor(() => s.posting());
    // The outbound worker gave up waiting and sent the reply as a message of its own.
    await s.drafts.finish('t1');
    expect(await s.drafts.abandon('t1')).toBe(true);
    await waitFor(() => s.removed.length === 1);
    expect(s.removed).toEqual(['m1']);
    expect(s.shown.size).toBe(0);
    expect(await s.drafts.get('t1')).toBeUndefined();
    // Nothing of the turn is posted again.
    await s.event({ type: 'delta', turnId: 't1', text: ' more' });
    await new Promise((r) => setTimeout(r, 200));
    expect(s.posts).toEqual(['t1']);
  });

  it('marks the draft of a failed turn instead of leaving it unfinished', async () => {
    const s = setup();
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'half an ans' });
    await waitFor(() => s.shown.get('m1') === 'half an ans …');
    await s.event({ type: 'turn_error', turnId: 't1', code: 'llm_error', message: 'model down', inReplyTo: ['in1'] });
    await waitFor(() => s.shown.get('m1') === 'half an ans\n\n(The answer could not be finished.)');
    expect(s.finals).toEqual(['half an ans\n\n(The answer could not be finished.)']);
  });

  it("cuts an over-long draft, and a failed turn's draft, between characters, never inside a surrogate pair", async () => {
    // maxDraftChars is 100: a draft shows the first 99 units, a failed turn's note the first 40.
    for (const [text, failed] of [
      ['x'.repeat(98) + '\u{1F600}'.repeat(5), false],
      ['x'.repeat(39) + '\u{1F600}'.repeat(5), true],
    ] as const) {
      const s = setup();
      await s.streamer.follow(SESSION, TARGET, 'in1');
      await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
      await s.event({ type: 'delta', turnId: 't1', text });
      await waitFor(() => s.shown.has('m1'));
      if (failed) {
        await s.event({ type: 'turn_error', turnId: 't1', code: 'llm_error', message: 'model down', inReplyTo: ['in1'] });
        await waitFor(() => s.finals.length === 1);
        expect(s.finals[0]).toBe(`${'x'.repeat(39)}\n\n(The answer could not be finished.)`);
      } else expect(s.shown.get('m1')).toBe(`${'x'.repeat(98)}…`);
      for (const shown of s.shown.values()) expect(Buffer.from(shown).toString()).toBe(shown); // a lone surrogate would not survive UTF-8
    }
  });

  it('shows one run of a turn: a resumed run replaces the text, a stale run is dropped', async () => {
    const s = setup();
    await s.streamer.follow(SESSION, TARGET, 'in1');
    await s.event({ type: 'turn_started', turnId: 't1', messageIds: ['in1'] });
    await s.event({ type: 'delta', turnId: 't1', text: 'first run ', attempt: 3 });
    await waitFor(() => s.shown.get('m1') === 'first run  …');
    // The lease was lost; the turn's next run (a higher fence) streams from the start.
    await s.event({ type: 'delta', turnId: 't1', text: 'second run', attempt: 4 });
    await s.event({ type: 'delta', turnId: 't1', text: ' STALE', attempt: 3 });
    await waitFor(() => s.shown.get('m1') === 'second run …');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.shown.get('m1')).toBe('second run …');
  });
});
