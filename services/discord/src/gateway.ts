import { Routes } from 'discord.js';
import { z } from 'zod';
import { issuesText, sessionKey } from '@switchboard/contracts';
import { admitMessage, answerApprovalButton, KeyedSerial, type ChannelAccess, type ChannelMetrics, type NormalizedInbound } from '@switchboard/channels';
import type { LaneIngress, TurnQueue } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import { normalizeMessage, type BotIdentity, type BotRole, type ChannelPlace } from './normalize.ts';
import { withFiles, type DiscordFiles } from './files.ts';
import { DcInteraction, DcMessage, EPHEMERAL, InteractionCallback, Snowflake } from './payloads.ts';
import { NO_MENTIONS } from './render.ts';
import type { DiscordRest } from './sender.ts';

export interface GatewayDeps {
  rest: DiscordRest;
  bot: BotIdentity;
  place: ChannelPlace;
  botRole?: BotRole;
  access: ChannelAccess;
  ingress: LaneIngress;
  board: ApprovalBoard;
  turns: TurnQueue;
  metrics: ChannelMetrics;
  logger: Logger;
  groupRequireMention: boolean;
  perUserInGroups: boolean;
  /**
   * Downloads attachments into the AttachmentStore after the access checks, before the lane (a
   * stranger's files are never fetched). Without it a message names its files only.
   */
  files?: DiscordFiles;
  /**
   * Told about every handled MESSAGE_CREATE (gateway or catch-up), after its handling: where the
   * catch-up keeps the newest handled id per active channel. Failures are logged only.
   */
  onHandled?: (info: HandledMessage) => Promise<void>;
  /** Called once a new message is on its lane (typing, draft streaming). */
  onAccepted?: (message: NormalizedInbound) => Promise<void>;
  /** Attempts at handling one event while Redis is failing, before it is given up (default 6). */
  maxAttempts?: number;
  /**
   * Discord needs an answer to an interaction within 3 s; a decision slower than this (ms, default
   * 2000) is acknowledged first (deferred update) and its verdict sent through the interaction webhook.
   */
  deferInteractionAfterMs?: number;
}

/** A MESSAGE_CREATE handled: its channel and id, the outcome, and where it belongs if it was normalized. */
export interface HandledMessage {
  channelId: string;
  messageId: string;
  outcome: string;
  isPrivate: boolean;
  place?: { guildId?: string | undefined; chatId: string; threadId?: string | undefined };
}

/**
 * A catch-up after a fresh gateway session. From its start every channel's new gateway messages
 * wait until `hold` names the channels being caught up (the others go on at once); a held
 * channel's wait ends with its `release`, after its fetched messages were handled through `handle`.
 */
export interface CatchupSession {
  hold(channelIds: string[]): void;
  /** Handles a fetched message like a gateway MESSAGE_CREATE (same rules, same dedupe), in its channel's order. */
  handle(msg: DcMessage, where: { chatId: string; threadId?: string | undefined }): Promise<string>;
  release(channelId: string): void;
  /** Releases every channel still held (done, failed or shutting down). */
  end(): void;
}

interface Gate {
  listed: Promise<void>;
  open(): void;
  held: Map<string, { released: Promise<void>; release(): void }>;
  ended: boolean;
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** What a dispatch is, decided synchronously, before discord.js's own handlers see the packet. */
export type Classified =
  | { kind: 'message'; message: DcMessage; edit: boolean }
  | { kind: 'interaction'; interaction: DcInteraction }
  | { kind: 'rejected'; reason: string }
  | { kind: 'ignored' };

/** The least a MESSAGE_UPDATE has: Discord may send partial ones (a link preview resolving). */
const PartialUpdate = z.looseObject({ id: Snowflake, channel_id: Snowflake });

/**
 * Validates a gateway dispatch. An invalid MESSAGE_CREATE or INTERACTION_CREATE is rejected; a
 * MESSAGE_UPDATE that is not a full message but has its ids is a partial update and is ignored.
 */
export function classifyDispatch(t: string, d: unknown): Classified {
  if (t === 'MESSAGE_CREATE' || t === 'MESSAGE_UPDATE') {
    const parsed = DcMessage.safeParse(d);
    if (parsed.success) return { kind: 'message', message: parsed.data, edit: t === 'MESSAGE_UPDATE' };
    if (t === 'MESSAGE_UPDATE' && PartialUpdate.safeParse(d).success) return { kind: 'ignored' };
    return { kind: 'rejected', reason: `not a Discord message: ${issuesText(parsed.error.issues)}` };
  }
  if (t === 'INTERACTION_CREATE') {
    const parsed = DcInteraction.safeParse(d);
    return parsed.success ? { kind: 'interaction', interaction: parsed.data } : { kind: 'rejected', reason: `not a Discord interaction: ${issuesText(parsed.error.issues)}` };
  }
  return { kind: 'ignored' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Handles validated gateway events. Messages of one channel are handled strictly one after the
 * other, in the order the gateway dispatched them (the lane's FIFO starts here); different
 * channels run in parallel. The gateway does not redeliver an event we failed to handle, so a
 * failure (Redis unreachable) is retried in place with backoff, holding that channel's later
 * messages back rather than reordering them.
 */
export class GatewayHandler {
  private readonly deps: GatewayDeps;
  private readonly chains = new KeyedSerial();
  /** Catch-ups running (one per shard that got READY): new messages wait for each. */
  private readonly gates = new Set<Gate>();

  constructor(deps: GatewayDeps) {
    this.deps = deps;
  }

  /** Queues a message behind earlier ones of its channel; resolves with the outcome it counted. */
  message(msg: DcMessage, edit: boolean): Promise<string> {
    // Taken now: a message that arrived before a catch-up started is not held by it.
    const gates = [...this.gates];
    return this.serial(msg.channel_id, async () => {
      for (const gate of gates) await this.passGate(gate, msg.channel_id);
      return this.withRetry(`message ${msg.id}`, () => this.onMessage(msg, edit));
    });
  }

  /**
   * Starts a catch-up (call synchronously on READY, before the session's first message is
   * dispatched). Several may run at once (shards of one process), each holding its own channels.
   */
  startCatchup(): CatchupSession {
    const listed = deferred();
    const gate: Gate = { listed: listed.promise, open: listed.resolve, held: new Map(), ended: false };
    this.gates.add(gate);
    // What was queued before: a fetched message of a channel runs after that channel's earlier ones.
    const before = this.chains.snapshot();
    const end = () => {
      gate.ended = true;
      gate.open();
      for (const h of gate.held.values()) h.release();
      this.gates.delete(gate);
    };
    return {
      hold: (channelIds) => {
        if (!gate.ended) {
          for (const id of channelIds) {
            const d = deferred();
            gate.held.set(id, { released: d.promise, release: d.resolve });
          }
        }
        gate.open();
      },
      handle: async (msg, where) => {
        await before.get(msg.channel_id);
        return this.withRetry(`message ${msg.id} (catch-up)`, () => this.onMessage(msg, false, where));
      },
      release: (channelId) => gate.held.get(channelId)?.release(),
      end,
    };
  }

  private async passGate(gate: Gate, channelId: string): Promise<void> {
    await gate.listed;
    await gate.held.get(channelId)?.released;
  }

  /** Handles a button press at once (Discord wants the answer within 3 s). */
  interaction(ix: DcInteraction): Promise<string> {
    return this.withRetry(`interaction ${ix.id}`, () => this.onInteraction(ix), 2);
  }

  /** Waits for every queued event to be handled (shutdown). */
  async drain(): Promise<void> {
    await this.chains.idle();
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.chains.run(key, fn);
  }

  private async withRetry(what: string, fn: () => Promise<string>, attempts = this.deps.maxAttempts ?? 6): Promise<string> {
    const { metrics, logger } = this.deps;
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await fn();
        metrics.updates.inc({ platform: 'discord', outcome });
        return outcome;
      } catch (err) {
        if (attempt >= attempts) {
          logger.error({ err, attempt }, `handling discord ${what} failed; giving up`);
          metrics.updates.inc({ platform: 'discord', outcome: 'failed' });
          return 'failed';
        }
        logger.warn({ err, attempt }, `handling discord ${what} failed; retrying`);
        await sleep(Math.min(5_000, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  private async onMessage(msg: DcMessage, edit: boolean, where?: { chatId: string; threadId?: string | undefined }): Promise<string> {
    const outcome = await this.admit(msg, edit, where);
    if (!edit && this.deps.onHandled) {
      const { outcome: o, normalized: n } = outcome;
      const info: HandledMessage = {
        channelId: msg.channel_id,
        messageId: msg.id,
        outcome: o,
        isPrivate: msg.guild_id === undefined,
        ...(n ? { place: { guildId: msg.guild_id, chatId: n.chatId, threadId: n.threadId } } : {}),
      };
      await this.deps.onHandled(info).catch((err: unknown) => this.deps.logger.warn({ err, channelId: msg.channel_id }, 'recording a handled discord message failed'));
    }
    return outcome.outcome;
  }

  private async admit(msg: DcMessage, edit: boolean, where?: { chatId: string; threadId?: string | undefined }): Promise<{ outcome: string; normalized?: NormalizedInbound }> {
    const d = this.deps;
    const place: ChannelPlace = where ? (id) => (id === msg.channel_id ? where : d.place(id)) : d.place;
    const n = normalizeMessage(msg, { bot: d.bot, place, ...(d.botRole ? { botRole: d.botRole } : {}), perUserInGroups: d.perUserInGroups, receivedAtMs: Date.now(), edit });
    if (n.kind === 'ignored') return { outcome: 'ignored' };
    const outcome = await admitMessage(
      {
        platform: 'discord',
        access: d.access,
        ingress: d.ingress,
        logger: d.logger,
        groupRequireMention: d.groupRequireMention,
        sendPairingCode: async (chatId, code) => {
          await d.rest.post(Routes.channelMessages(chatId), {
            body: { content: `Hi! I only talk to people my owner approved. Your pairing code is ${code}. Ask the owner to approve it; it expires soon.`, allowed_mentions: NO_MENTIONS },
          });
        },
        ...(d.onAccepted ? { onAccepted: d.onAccepted } : {}),
        // Inside this channel's chain: its later messages wait for the download, so order holds.
        ...(d.files && n.files.length > 0 ? { prepare: async (message) => withFiles(message, await d.files!.fetch(n.files)) } : {}),
      },
      { deliveryId: n.deliveryId, message: n.message, isPrivate: n.isPrivate, mentioned: n.mentioned },
    );
    return { outcome, normalized: n.message };
  }

  /** Once per interaction; a press whose handling failed is handled again by the retry (not dropped as a duplicate). */
  private onInteraction(ix: DcInteraction): Promise<string> {
    return this.deps.access.handleOnce(`ix-${ix.id}`, () => this.answerInteraction(ix));
  }

  /** A button press: decides the approval; the prompt is replaced by the verdict, or the presser alone is told why not. */
  private async answerInteraction(ix: DcInteraction): Promise<string> {
    const d = this.deps;
    const respond = (body: unknown) => d.rest.post(Routes.interactionCallback(ix.id, ix.token), { body, auth: false });
    const refuse = (content: string) => respond({ type: InteractionCallback.ChannelMessageWithSource, data: { content, flags: EPHEMERAL, allowed_mentions: NO_MENTIONS } });
    const presser = ix.member?.user ?? ix.user;
    if (ix.type !== 3 || !presser || !ix.channel_id) {
      await refuse('This action is not understood.');
      return 'ignored';
    }
    const isPrivate = ix.guild_id === undefined;
    const where = isPrivate ? { chatId: ix.channel_id } : d.place(ix.channel_id);
    const deciding = answerApprovalButton(
      { board: d.board, turns: d.turns, access: d.access, account: d.bot.id },
      {
        data: ix.data?.custom_id,
        chatSessionKey: sessionKey({ platform: 'discord', account: d.bot.id, chatId: where.chatId, threadId: where.threadId }),
        presserId: presser.id,
        // A bot's DM channel has exactly one other member: whoever pressed there owns it.
        ownDm: isPrivate,
        platform: 'discord',
      },
    );
    // Awaited below; this only keeps a failure after a deferral from going unhandled.
    deciding.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), d.deferInteractionAfterMs ?? 2_000);
    });
    const deferred = (await Promise.race([deciding, slow])) === 'slow';
    clearTimeout(timer);
    if (deferred) await respond({ type: InteractionCallback.DeferredUpdateMessage });
    const outcome = await deciding;
    if (!outcome.ok) {
      // Deferred: a follow-up only the presser sees.
      if (deferred) await d.rest.post(Routes.webhook(ix.application_id, ix.token), { body: { content: outcome.message, flags: EPHEMERAL, allowed_mentions: NO_MENTIONS }, auth: false });
      else await refuse(outcome.message);
      return 'interaction';
    }
    const by = ix.member?.nick ?? presser.global_name ?? presser.username;
    const verdict = { content: `${outcome.verdict}: \`${outcome.tool}\` (by ${by})`, components: [], allowed_mentions: NO_MENTIONS };
    if (deferred) await d.rest.patch(Routes.webhookMessage(ix.application_id, ix.token), { body: verdict, auth: false });
    else await respond({ type: InteractionCallback.UpdateMessage, data: verdict });
    return 'interaction';
  }
}
