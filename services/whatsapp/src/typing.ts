import type { ChatTarget, DraftSurface } from '@switchboard/channels';
import type { GraphApi } from './graph-api.ts';

/**
 * WhatsApp's side of the reply streamer: a typing indicator only. The Cloud API cannot edit a sent
 * message, so there are no drafts (the streamer runs with `editIntervalMs: 0` and never calls
 * `post`/`edit`); the final reply arrives as new messages through the outbound queue. The indicator
 * hangs off an inbound message (it also marks it read), so the surface remembers each chat's newest
 * wamid.
 */
export class TypingSurface implements DraftSurface {
  private readonly api: GraphApi;
  private readonly latest = new Map<string, string>();

  constructor(api: GraphApi) {
    this.api = api;
  }

  /** Records the newest inbound message of a chat (the one "typing…" is shown against). */
  noteInbound(target: ChatTarget, wamid: string): void {
    const key = `${target.account}:${target.chatId}`;
    this.latest.delete(key); // re-insert: the map stays in recency order for the size cap
    this.latest.set(key, wamid);
    if (this.latest.size > 10_000) this.latest.delete(this.latest.keys().next().value!);
  }

  post(): Promise<string> {
    return Promise.reject(new Error('the WhatsApp Cloud API cannot edit messages, so it has no drafts'));
  }

  edit(): Promise<void> {
    return Promise.reject(new Error('the WhatsApp Cloud API cannot edit messages'));
  }

  async typing(target: ChatTarget): Promise<void> {
    const wamid = this.latest.get(`${target.account}:${target.chatId}`);
    if (wamid) await this.api.typing(target.account, wamid);
  }
}
