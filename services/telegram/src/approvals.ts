import type { Api } from 'grammy';
import type { Redis } from 'ioredis';
import type { StoredSessionEvent } from '@switchboard/contracts';
import type { EventHub, LaneStore, TurnQueue } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import { escapeHtml } from './render.ts';
import type { TgCallbackQuery } from './update.ts';

const CALLBACK = /^ap:(ap_[a-f0-9]{32}):(approve|deny)$/;

export interface TelegramApprovalsOptions {
  api: Api;
  botId: string;
  redis: Redis;
  prefix: string;
  store: LaneStore;
  hub: EventHub;
  board: ApprovalBoard;
  turns: TurnQueue;
  logger: Logger;
  /** Whether this Telegram user may answer approvals in a chat they do not own. */
  mayApprove: (userId: string) => Promise<boolean>;
  /** How long a session is followed for approval requests after its last message, in ms. */
  watchMs: number;
}

/**
 * Approval requests as inline keyboards, and their answers. After a message is put on a lane this
 * replica follows the session's event stream (from its current end) until the turn replies, so an
 * `approval_request` becomes a message with Approve/Deny buttons; a button press decides it on the
 * ApprovalBoard and wakes the parked turn.
 */
export class TelegramApprovals {
  private readonly o: TelegramApprovalsOptions;
  private readonly watches = new Map<string, { stop: () => void; timer: NodeJS.Timeout }>();

  constructor(opts: TelegramApprovalsOptions) {
    this.o = opts;
  }

  /** Follows `sessionKey` for approval requests, starting after the newest event now in its log. */
  async watch(sessionKey: string, chatId: string, threadId: string | undefined): Promise<void> {
    const existing = this.watches.get(sessionKey);
    if (existing) {
      existing.timer.refresh();
      return;
    }
    const newest = (await this.o.redis.xrevrange(this.o.store.keys.events(sessionKey), '+', '-', 'COUNT', 1)) as [string, string[]][];
    const after = newest[0]?.[0] ?? '0';
    const timer = setTimeout(() => this.unwatch(sessionKey), this.o.watchMs);
    timer.unref();
    const entry: { stop: () => void; timer: NodeJS.Timeout } = { stop: () => undefined, timer };
    this.watches.set(sessionKey, entry);
    entry.stop = await this.o.hub.subscribe(sessionKey, after, (events) => {
      void this.onEvents(sessionKey, chatId, threadId, events).catch((err: unknown) =>
        this.o.logger.error({ err, sessionId: sessionKey }, 'sending a telegram approval request failed'),
      );
    });
  }

  private unwatch(sessionKey: string): void {
    const w = this.watches.get(sessionKey);
    if (!w) return;
    clearTimeout(w.timer);
    w.stop();
    this.watches.delete(sessionKey);
  }

  private async onEvents(sessionKey: string, chatId: string, threadId: string | undefined, events: StoredSessionEvent[]): Promise<void> {
    for (const { event } of events) {
      if (event.type === 'approval_request') {
        // Once per request across replicas and restarts.
        const first = await this.o.redis.set(`${this.o.prefix}:tg:${this.o.botId}:ap-sent:${event.id}`, '1', 'EX', 7 * 24 * 3600, 'NX');
        if (first !== 'OK') continue;
        const args = JSON.stringify(event.arguments, null, 2);
        const text = `The assistant wants to run <b>${escapeHtml(event.tool)}</b>:\n<pre><code class="language-json">${escapeHtml(args.length > 3000 ? `${args.slice(0, 3000)}…` : args)}</code></pre>`;
        await this.o.api.sendMessage(chatId, text, {
          parse_mode: 'HTML',
          ...(threadId ? { message_thread_id: Number(threadId) } : {}),
          reply_markup: {
            inline_keyboard: [[
              { text: 'Approve', callback_data: `ap:${event.id}:approve` },
              { text: 'Deny', callback_data: `ap:${event.id}:deny` },
            ]],
          },
        });
      } else if (event.type === 'reply' || event.type === 'turn_error') {
        this.unwatch(sessionKey);
      }
    }
  }

  /** Answers an inline-button press. Never throws for the user's mistakes; they get a toast instead. */
  async onCallback(cq: TgCallbackQuery): Promise<'decided' | 'refused'> {
    const answer = (text: string) => this.o.api.answerCallbackQuery(cq.id, { text }).catch(() => undefined);
    const m = CALLBACK.exec(cq.data ?? '');
    const chat = cq.message?.chat;
    if (!m || !chat) {
      await answer('This button is not understood.');
      return 'refused';
    }
    const [, id, choice] = m as unknown as [string, string, 'approve' | 'deny'];
    const state = await this.o.board.get(id);
    // The request must belong to a session of this chat, and the presser must be allowed to decide.
    const chatPrefix = `telegram:${this.o.botId}:${chat.id}`;
    const ownDm = chat.type === 'private' && chat.id === cq.from.id;
    if (!state || (state.sessionKey !== chatPrefix && !state.sessionKey.startsWith(`${chatPrefix}:`))) {
      await answer('This request is no longer valid.');
      return 'refused';
    }
    if (!ownDm && !(await this.o.mayApprove(String(cq.from.id)))) {
      await answer('You are not allowed to answer this request.');
      return 'refused';
    }
    const result = await this.o.board.decide(id, choice === 'approve' ? 'approved' : 'denied', this.o.botId, `telegram:${cq.from.id}`);
    if (!result.ok) {
      await answer(result.code === 'not_found' ? 'This request is no longer valid.' : `Already ${result.status ?? 'decided'}.`);
      return 'refused';
    }
    await this.o.turns.request(result.state.sessionKey);
    await answer(choice === 'approve' ? 'Approved' : 'Denied');
    if (cq.message) {
      const verdict = choice === 'approve' ? 'Approved' : 'Denied';
      await this.o.api
        .editMessageText(chat.id, cq.message.message_id, `${verdict} <b>${escapeHtml(state.tool)}</b> (by ${escapeHtml(cq.from.username ?? cq.from.first_name)})`, { parse_mode: 'HTML' })
        .catch((err: unknown) => this.o.logger.warn({ err }, 'could not update the approval message'));
    }
    return 'decided';
  }

  close(): void {
    for (const key of [...this.watches.keys()]) this.unwatch(key);
  }
}
