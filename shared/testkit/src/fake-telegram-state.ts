/**
 * What the fake Telegram remembers between calls: the bot's messages per chat (with edits applied),
 * files that getFile can serve, and the update queue that getUpdates long-polls.
 */

/** A message the bot sent, as the chat shows it now. */
export interface FakeTelegramMessage {
  messageId: number;
  chatId: string;
  threadId: number | undefined;
  /** The current text (after edits), as sent: HTML or plain. */
  text: string;
  parseMode: string | undefined;
  /** The current inline keyboard, if any (an edit without one removes it, as on Telegram). */
  replyMarkup: unknown;
  /** How many times editMessageText changed it. */
  edits: number;
}

/** A file the fake serves through getFile and `/file/bot<token>/<path>`. */
export interface FakeTelegramFile {
  file_id: string;
  file_unique_id: string;
  file_size: number;
  file_path: string;
}

export class FakeChats {
  private readonly byChat = new Map<string, FakeTelegramMessage[]>();
  private readonly byId = new Map<string, FakeTelegramMessage>();
  private nextMessageId = 1000;

  post(chatId: string, text: string, params: Record<string, unknown>): FakeTelegramMessage {
    this.nextMessageId += 1;
    const m: FakeTelegramMessage = {
      messageId: this.nextMessageId,
      chatId,
      threadId: params.message_thread_id === undefined ? undefined : Number(params.message_thread_id),
      text,
      parseMode: typeof params.parse_mode === 'string' ? params.parse_mode : undefined,
      replyMarkup: params.reply_markup,
      edits: 0,
    };
    const list = this.byChat.get(chatId) ?? [];
    list.push(m);
    this.byChat.set(chatId, list);
    this.byId.set(`${chatId}/${m.messageId}`, m);
    return m;
  }

  /** Applies an edit; a string is the Bot API's error description. */
  edit(chatId: string, messageId: number, text: string, params: Record<string, unknown>): FakeTelegramMessage | string {
    const m = this.byId.get(`${chatId}/${messageId}`);
    if (!m) return 'Bad Request: message to edit not found';
    if (m.text === text && JSON.stringify(m.replyMarkup) === JSON.stringify(params.reply_markup)) {
      return 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';
    }
    m.text = text;
    m.parseMode = typeof params.parse_mode === 'string' ? params.parse_mode : undefined;
    m.replyMarkup = params.reply_markup;
    m.edits += 1;
    return m;
  }

  /** Deletes a message (Bot API deleteMessage); a string is the error description. */
  remove(chatId: string, messageId: number): true | string {
    const m = this.byId.get(`${chatId}/${messageId}`);
    if (!m) return 'Bad Request: message to delete not found';
    this.byId.delete(`${chatId}/${messageId}`);
    const list = this.byChat.get(chatId) ?? [];
    list.splice(list.indexOf(m), 1);
    return true;
  }

  /** The bot's messages in a chat (optionally one forum topic), oldest first. */
  in(chatId: string, threadId?: number): FakeTelegramMessage[] {
    return (this.byChat.get(chatId) ?? []).filter((m) => threadId === undefined || m.threadId === threadId).map((m) => ({ ...m }));
  }

  all(): FakeTelegramMessage[] {
    return [...this.byId.values()].map((m) => ({ ...m }));
  }
}

/** A held getUpdates request. */
interface Waiter {
  offset: number;
  limit: number;
  resolve: (result: { updates: unknown[] } | { conflict: true }) => void;
  timer: NodeJS.Timeout;
}

/**
 * getUpdates semantics: an update stays pending until a getUpdates call with a higher `offset`
 * confirms it; a call with nothing to return waits up to `timeout` seconds for a new update; a
 * second concurrent call ends the first with 409 Conflict, as Telegram does.
 */
export class FakeUpdateQueue {
  private pending: Array<{ update_id: number } & Record<string, unknown>> = [];
  private waiter: Waiter | undefined;
  private nextUpdateId = 900_000;

  push(update: Record<string, unknown>): number {
    const updateId = typeof update.update_id === 'number' ? update.update_id : ++this.nextUpdateId;
    this.pending.push({ ...update, update_id: updateId });
    this.pending.sort((a, b) => a.update_id - b.update_id);
    const w = this.waiter;
    if (w) {
      const ready = this.ready(w.offset, w.limit);
      if (ready.length > 0) {
        this.waiter = undefined;
        clearTimeout(w.timer);
        w.resolve({ updates: ready });
      }
    }
    return updateId;
  }

  /** Updates not confirmed yet. */
  unconfirmed(): number[] {
    return this.pending.map((u) => u.update_id);
  }

  private ready(offset: number, limit: number): unknown[] {
    return this.pending.filter((u) => u.update_id >= offset).slice(0, limit);
  }

  /** `gone` resolves when the client closed the request: a held request then ends quietly (no conflict for the next one). */
  get(params: Record<string, unknown>, gone?: Promise<void>): Promise<{ updates: unknown[] } | { conflict: true }> {
    const offset = Number(params.offset ?? 0);
    const limit = Math.min(100, Math.max(1, Number(params.limit ?? 100)));
    const timeoutMs = Math.max(0, Number(params.timeout ?? 0)) * 1000;
    // A positive offset confirms every update before it.
    if (offset > 0) this.pending = this.pending.filter((u) => u.update_id >= offset);
    const previous = this.waiter;
    if (previous) {
      this.waiter = undefined;
      clearTimeout(previous.timer);
      previous.resolve({ conflict: true });
    }
    const ready = this.ready(offset, limit);
    if (ready.length > 0 || timeoutMs === 0) return Promise.resolve({ updates: ready });
    return new Promise((resolve) => {
      const w: Waiter = {
        offset,
        limit,
        resolve,
        timer: setTimeout(() => {
          if (this.waiter === w) this.waiter = undefined;
          resolve({ updates: [] });
        }, timeoutMs),
      };
      this.waiter = w;
      void gone?.then(() => {
        if (this.waiter !== w) return;
        this.waiter = undefined;
        clearTimeout(w.timer);
        resolve({ updates: [] });
      });
    });
  }

  /** Ends a held request (the client went away). */
  drop(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.resolve({ updates: [] });
    }
  }
}
