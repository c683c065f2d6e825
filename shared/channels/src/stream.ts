import type { Redis } from 'ioredis';
import type { StoredSessionEvent } from '@switchboard/contracts';
import type { EventHub, LaneStore } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ChatTarget, DraftStore } from './outbound.ts';
import { headOf } from './split.ts';

/** A platform's way to show a reply while it is being written. */
export interface DraftSurface {
  /**
   * Posts a new draft message; returns its platform message id. `replyTo` is the inbound message
   * ids the turn answers (the draft may quote the last, as the final reply's first part would);
   * `turnId` the turn (one draft per turn: a platform's idempotency key for the post).
   */
  post(target: ChatTarget, text: string, opts?: { replyTo: readonly string[]; turnId?: string }): Promise<string>;
  /**
   * Replaces the draft's text. A surface that spaces its edits may skip one that comes too soon
   * (the next catches up), but not a `final` one (the draft's last text): that one waits its turn.
   */
  edit(target: ChatTarget, messageId: string, text: string, opts?: { final?: boolean }): Promise<void>;
  /** Shows "typing…" (called at the start and every `typingIntervalMs` while a turn runs). */
  typing?(target: ChatTarget): Promise<void>;
  /** Deletes a draft posted too late to be used (the final reply went out as a message of its own). */
  remove?(target: ChatTarget, messageId: string): Promise<void>;
  /**
   * Whether an error thrown by `edit` means the draft is gone or can no longer be edited (the user
   * deleted it): the streamer then stops editing it, and the final reply goes out as a new message.
   */
  uneditable?(err: unknown): boolean;
}

export interface ReplyStreamerOptions {
  hub: EventHub;
  redis: Redis;
  store: LaneStore;
  drafts: DraftStore;
  surface: DraftSurface;
  logger: Logger;
  /** Smallest gap between two edits of a draft (platform edit limits; Telegram ~1/s per chat). 0 disables drafts. */
  editIntervalMs: number;
  /** Typing refresh interval (Telegram's indicator lasts 5 s). 0 disables typing. */
  typingIntervalMs?: number;
  /** A draft shows at most this many characters of the text so far. */
  maxDraftChars: number;
  /** Renders partial markdown for a draft (plain text is safest: unfinished markup is common). */
  renderDraft?: (text: string) => string;
  /** Stop following a session this long after its last accepted message, in ms (default 10 min). */
  followMs?: number;
}

interface Follow {
  target: ChatTarget;
  stop: () => void;
  timer: NodeJS.Timeout;
  typing: NodeJS.Timeout | undefined;
  turns: Map<string, TurnDraft>;
  /** Accepted messages not answered yet; the follow ends when none is left (or at the first reply when none was named). */
  waiting: Set<string>;
  /** Turns whose final reply may not be on the platform yet: a new draft posted now would appear above it. */
  unsent: Set<string>;
  /** Turns seen from their start, with the messages they answer: only those get a draft (a turn joined halfway would show a truncated text). */
  started: Map<string, string[]>;
}

/** How far back `follow` looks for a turn that started before it (events), and for replies still being sent (ms). */
const LOOKBACK_EVENTS = 200;
const UNSENT_WINDOW_MS = 10 * 60_000;
/**
 * Most turns a follow remembers as started (or as answered but maybe not yet sent): a follow lives
 * as long as its chat stays active, and a turn answered in another session (a run delivered
 * elsewhere) never ends here. The oldest are forgotten first.
 */
const MAX_REMEMBERED_TURNS = 100;

/** Adds to an insertion-ordered collection, dropping its oldest entries past `max`. */
function remember<K>(into: Map<K, unknown> | Set<K>, max: number): void {
  for (const key of into.keys()) {
    if (into.size <= max) return;
    into.delete(key);
  }
}

function eventOf(fields: string[]): StoredSessionEvent['event'] | undefined {
  const i = fields.indexOf('e');
  try {
    return i >= 0 && i % 2 === 0 ? (JSON.parse(fields[i + 1] ?? 'null') as StoredSessionEvent['event']) : undefined;
  } catch {
    return undefined;
  }
}

interface TurnDraft {
  text: string;
  /** The run of the turn whose text this is (see the delta event's `attempt`). */
  attempt: number;
  /** This replica created the draft and may edit it. */
  mine: boolean;
  messageId: string | undefined;
  shown: string;
  lastEditAt: number;
  flushTimer: NodeJS.Timeout | undefined;
  busy: Promise<void>;
  done: boolean;
}

/**
 * Streams a turn's reply into a chat by editing a draft message at a throttled rate, and keeps a
 * typing indicator up while the turn runs. Best effort by design: the final reply always goes
 * through the durable outbound queue, which turns the draft (if any) into the first part of the
 * reply, so a replica restart mid-stream costs only the live preview.
 */
export class ReplyStreamer {
  private readonly o: ReplyStreamerOptions;
  private readonly follows = new Map<string, Follow>();
  /** Follows being set up, by session: a second message of the session joins the first's follow. */
  private readonly starting = new Map<string, Promise<void>>();

  constructor(opts: ReplyStreamerOptions) {
    this.o = opts;
  }

  /**
   * Follows `sessionKey` until the turn answering `messageId` (the accepted message) replies, or
   * `followMs` passes; without `messageId`, until the next reply. Call it after the message is on
   * its lane: a turn that already started for it is picked up from the recent events.
   */
  async follow(sessionKey: string, target: ChatTarget, messageId?: string): Promise<void> {
    // One follow per session: two messages accepted at once (an album, two quick events) would
    // otherwise each start one, and the one replaced would keep its typing indicator forever.
    for (let setup = this.starting.get(sessionKey); setup; setup = this.starting.get(sessionKey)) await setup.catch(() => undefined);
    const existing = this.follows.get(sessionKey);
    if (existing) {
      if (messageId) existing.waiting.add(messageId);
      existing.timer.refresh();
      this.startTyping(existing);
      return;
    }
    const setup = this.startFollow(sessionKey, target, messageId);
    this.starting.set(sessionKey, setup);
    try {
      await setup;
    } finally {
      if (this.starting.get(sessionKey) === setup) this.starting.delete(sessionKey);
    }
  }

  private async startFollow(sessionKey: string, target: ChatTarget, messageId: string | undefined): Promise<void> {
    const recent = (await this.o.redis.xrevrange(this.o.store.keys.events(sessionKey), '+', '-', 'COUNT', LOOKBACK_EVENTS)) as [string, string[]][];
    let after = recent[0]?.[0] ?? '0';
    let found = false;
    const unsent = new Set<string>();
    for (const [i, [id, fields]] of recent.entries()) {
      const event = eventOf(fields);
      // The turn for this message may have started (and streamed) before this hook ran.
      if (!found && messageId && event?.type === 'turn_started' && event.messageIds.includes(messageId)) {
        after = recent[i + 1]?.[0] ?? '0';
        found = true;
      }
      if (event?.type === 'reply' && Number(id.split('-')[0]) > Date.now() - UNSENT_WINDOW_MS) unsent.add(event.turnId);
    }
    const timer = setTimeout(() => this.unfollow(sessionKey), this.o.followMs ?? 600_000);
    timer.unref();
    const f: Follow = { target, stop: () => undefined, timer, typing: undefined, turns: new Map(), waiting: new Set(messageId ? [messageId] : []), unsent, started: new Map() };
    this.follows.set(sessionKey, f);
    this.startTyping(f);
    const stop = await this.o.hub.subscribe(sessionKey, after, (events) => this.onEvents(sessionKey, f, events));
    if (this.follows.get(sessionKey) === f) f.stop = stop;
    else stop(); // unfollowed while subscribing
  }

  private startTyping(f: Follow): void {
    const every = this.o.typingIntervalMs ?? 0;
    const typing = this.o.surface.typing?.bind(this.o.surface);
    if (!typing || every <= 0 || f.typing) return;
    const tick = () => void typing(f.target).catch((err: unknown) => this.o.logger.debug({ err }, 'typing indicator failed'));
    tick();
    f.typing = setInterval(tick, every);
    f.typing.unref();
  }

  private stopTyping(f: Follow): void {
    clearInterval(f.typing);
    f.typing = undefined;
  }

  private onEvents(sessionKey: string, f: Follow, events: StoredSessionEvent[]): void {
    for (const { event } of events) {
      if (event.type === 'turn_started') {
        // A turn given back unanswered (interrupted by a newer message) is claimed again under a
        // new id with its messages: the old id never gets a reply, so it ends here.
        for (const [turnId, messageIds] of f.started) {
          if (turnId !== event.turnId && messageIds.some((id) => event.messageIds.includes(id))) this.retire(f, turnId);
        }
        f.started.set(event.turnId, event.messageIds);
        remember(f.started, MAX_REMEMBERED_TURNS);
        this.startTyping(f);
      } else if (event.type === 'delta') {
        if (!f.started.has(event.turnId)) continue;
        let t = f.turns.get(event.turnId);
        if (!t) {
          t = { text: '', attempt: event.attempt ?? 0, mine: false, messageId: undefined, shown: '', lastEditAt: 0, flushTimer: undefined, busy: Promise.resolve(), done: false };
          f.turns.set(event.turnId, t);
        }
        const attempt = event.attempt ?? 0;
        if (attempt < t.attempt) continue; // a stale run of the turn, fenced off already
        if (attempt > t.attempt) {
          // The turn was resumed by another run, which writes its answer from the start.
          t.attempt = attempt;
          t.text = '';
        }
        t.text += event.text;
        this.schedule(f, event.turnId, t);
      } else if (event.type === 'approval_request') this.stopTyping(f);
      else if (event.type === 'reply' || event.type === 'turn_error') {
        const t = f.turns.get(event.turnId);
        if (t) {
          t.done = true;
          clearTimeout(t.flushTimer);
          f.turns.delete(event.turnId);
          // A failed turn gets no final reply to replace its draft: say so instead of leaving "…".
          if (event.type === 'turn_error') t.busy = t.busy.then(() => this.markFailed(f, event.turnId, t)).catch((err: unknown) => this.o.logger.warn({ err }, 'could not mark a failed draft'));
        }
        f.started.delete(event.turnId);
        if (event.type === 'reply' && this.o.editIntervalMs > 0) {
          f.unsent.add(event.turnId);
          remember(f.unsent, MAX_REMEMBERED_TURNS);
        }
        const named = f.waiting.size > 0;
        for (const id of event.inReplyTo) f.waiting.delete(id);
        // Messages collected into a later turn keep the follow (and typing) alive until that turn answers.
        if (f.turns.size === 0 && (!named || f.waiting.size === 0)) {
          this.stopTyping(f);
          this.unfollow(sessionKey);
        }
      }
    }
  }

  /** Ends a superseded turn's draft: stops its edits and deletes what it posted (a newer turn answers its messages). */
  private retire(f: Follow, turnId: string): void {
    f.started.delete(turnId);
    const t = f.turns.get(turnId);
    if (!t) return;
    f.turns.delete(turnId);
    t.done = true;
    clearTimeout(t.flushTimer);
    const remove = this.o.surface.remove?.bind(this.o.surface);
    if (!remove) return;
    t.busy = t.busy
      .then(() => (t.mine && t.messageId ? remove(f.target, t.messageId) : undefined))
      .catch((err: unknown) => this.o.logger.warn({ err, turnId }, 'could not delete the draft of an interrupted turn'));
  }

  private schedule(f: Follow, turnId: string, t: TurnDraft): void {
    if (this.o.editIntervalMs <= 0 || t.flushTimer || t.done) return;
    const wait = Math.max(0, t.lastEditAt + this.o.editIntervalMs - Date.now());
    t.flushTimer = setTimeout(() => {
      t.flushTimer = undefined;
      t.busy = t.busy.then(() => this.flush(f, turnId, t)).catch((err: unknown) => this.o.logger.warn({ err, turnId }, 'draft update failed'));
    }, wait);
    t.flushTimer.unref();
  }

  private async flush(f: Follow, turnId: string, t: TurnDraft): Promise<void> {
    if (t.done) return;
    const max = this.o.maxDraftChars;
    const raw = t.text.length > max ? `${headOf(t.text, max - 1)}…` : `${t.text} …`;
    const text = this.o.renderDraft ? this.o.renderDraft(raw) : raw;
    if (text === t.shown) return;
    t.lastEditAt = Date.now();
    const { drafts, surface } = this.o;
    if (!t.messageId) {
      // An earlier reply still on its way (rate limited, say) would end up below this draft: wait for it.
      for (const id of f.unsent) if (await drafts.isDelivered(id)) f.unsent.delete(id);
      if (f.unsent.size > 0) {
        this.schedule(f, turnId, t);
        return;
      }
      if (t.mine || !(await drafts.claim(turnId))) return; // another replica streams this turn
      t.mine = true;
      // Posted under the edit lock, so the final reply waits for the draft's id instead of posting a second message.
      let posted = false;
      try {
        posted = await drafts.editUnlessFinal(turnId, async () => {
          const id = await surface.post(f.target, text, { replyTo: f.started.get(turnId) ?? [], turnId });
          if (await drafts.adopt(turnId, id)) {
            t.messageId = id;
            return;
          }
          // The final reply stopped waiting for this post and went out on its own: no half-written copy above it.
          t.done = true;
          await surface.remove?.(f.target, id).catch((err: unknown) => this.o.logger.warn({ err, turnId }, 'could not delete a draft posted too late'));
        });
      } finally {
        if (!posted) {
          await drafts.release(turnId);
          if (!t.done) t.mine = false; // a failed post may be tried again at the next delta
        }
      }
      if (posted) t.shown = text;
      return;
    }
    const id = t.messageId;
    try {
      if (await drafts.editUnlessFinal(turnId, () => surface.edit(f.target, id, text))) t.shown = text;
    } catch (err) {
      if (!surface.uneditable?.(err)) throw err;
      // Every later edit would fail the same way (and count against the platform's limits), the
      // final reply's included: it goes out as a new message.
      t.done = true;
      t.messageId = undefined;
      this.o.logger.info({ turnId }, 'the draft is gone (deleted by the user?); no more edits of it');
      await drafts.gone(turnId, id);
    }
  }

  private async markFailed(f: Follow, turnId: string, t: TurnDraft): Promise<void> {
    const id = t.messageId;
    if (!id) return;
    const text = `${headOf(t.text, this.o.maxDraftChars - 60)}\n\n(The answer could not be finished.)`.trimStart();
    await this.o.drafts.editUnlessFinal(turnId, () => this.o.surface.edit(f.target, id, this.o.renderDraft ? this.o.renderDraft(text) : text, { final: true }));
  }

  private unfollow(sessionKey: string): void {
    const f = this.follows.get(sessionKey);
    if (!f) return;
    clearTimeout(f.timer);
    this.stopTyping(f);
    for (const t of f.turns.values()) clearTimeout(t.flushTimer);
    f.stop();
    this.follows.delete(sessionKey);
  }

  close(): void {
    for (const key of [...this.follows.keys()]) this.unfollow(key);
  }
}
