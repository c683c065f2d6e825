import type { App, webApi } from '@slack/bolt';
import type { Redis } from 'ioredis';
import { sessionKey } from '@switchboard/contracts';
import { admitMessage, answerApprovalButton, KeyedSerial, type ChannelAccess, type ChannelMetrics, type NormalizedInbound } from '@switchboard/channels';
import type { LaneIngress, TurnQueue } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import { BlockActions, SlackMessageEvent } from './events.ts';
import type { FetchedFiles, SlackFiles } from './files.ts';
import { normalizeSlackEvent, type SlackIdentity } from './normalize.ts';
import { escapeMrkdwn } from './render.ts';

export interface ListenerDeps {
  /** Known once auth.test answered; deliveries are held back (503) until then. */
  identity(): SlackIdentity;
  access(): ChannelAccess;
  client: webApi.WebClient;
  redis: Redis;
  prefix: string;
  ingress: LaneIngress;
  board: ApprovalBoard;
  turns: TurnQueue;
  metrics: ChannelMetrics;
  logger: Logger;
  groupRequireMention: boolean;
  groupSessionPerUser: boolean;
  /** Downloads shared files into the AttachmentStore before the message goes on its lane. */
  files?: SlackFiles;
  /** Called once a new message is on its lane (draft streaming). */
  onAccepted?: (message: NormalizedInbound) => Promise<void>;
}

/**
 * Event ids Slack delivered and we handled, kept a day: a retry (X-Slack-Retry-Num) of a handled
 * event stops here. Marked after handling, so a delivery that failed half-way is handled again on
 * retry; the lane's own dedupe (by channel and ts) covers two copies racing each other.
 */
class SeenEvents {
  private readonly redis: Redis;
  private readonly prefix: string;
  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }
  private key(eventId: string) {
    return `${this.prefix}:ch:slack:event:${eventId}`;
  }
  async seen(eventId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(eventId))) === 1;
  }
  async remember(eventId: string): Promise<void> {
    await this.redis.set(this.key(eventId), '1', 'EX', 24 * 3600);
  }
}

/** Fire-and-forget Slack calls made after a delivery is admitted: failures are logged, never thrown. */
const later = (log: Logger, what: string, call: () => Promise<unknown>) => {
  void call().catch((err: unknown) => log.warn({ err: (err as Error).message }, `${what} failed`));
};

/**
 * Registers the Bolt listeners: `message` and `app_mention` events go through normalization, the
 * access rules and onto their lanes; Approve/Deny buttons (`block_actions` with our action ids)
 * decide the parked tool call. The same listeners serve HTTP events and Socket Mode.
 */
export function registerListeners(app: App, deps: ListenerDeps): void {
  const { metrics, logger: log } = deps;
  const count = (outcome: string) => metrics.updates.inc({ platform: 'slack', outcome });
  const seen = new SeenEvents(deps.redis, deps.prefix);
  // A channel message that mentions the bot arrives twice (message + app_mention) at once: one
  // download serves both copies (the lane keeps one of them).
  const downloading = new Map<string, Promise<FetchedFiles>>();
  // Deliveries of one channel are admitted in the order they came: a message whose files are still
  // downloading must not be overtaken on its lane by the sender's next message.
  const channels = new KeyedSerial();

  const onMessage = async ({ body, event, context }: { body: unknown; event: unknown; context: Record<string, unknown> }) => {
    // Set by our receivers: whether Slack already has its 200 (then it will not retry this delivery).
    const acked = typeof context.slackAcked === 'function' ? (context.slackAcked as () => boolean) : () => false;
    const eventId = (body as { event_id?: string }).event_id;
    if (eventId && (await seen.seen(eventId))) {
      count('duplicate');
      return;
    }
    const parsed = SlackMessageEvent.safeParse(event);
    if (!parsed.success) {
      // Socket Mode gets here (HTTP deliveries were validated before Bolt saw them).
      count('rejected');
      metrics.inbound.inc({ platform: 'slack', outcome: 'rejected' });
      log.warn({ issues: parsed.error.issues }, 'not a Slack message event; ignored');
      return;
    }
    const bot = deps.identity();
    const n = normalizeSlackEvent(parsed.data, bot, { groupSessionPerUser: deps.groupSessionPerUser }, Date.now());
    let outcome: string = 'ignored';
    if (n.kind === 'message') {
      outcome = await channels.run(n.message.chatId, () => admitMessage(
        {
          platform: 'slack',
          access: deps.access(),
          ingress: deps.ingress,
          logger: log,
          groupRequireMention: deps.groupRequireMention,
          sendPairingCode: async (chatId, code) => {
            later(log, 'sending a pairing code', () =>
              deps.client.chat.postMessage({
                channel: chatId,
                text: `Hi! I only talk to people my owner approved. Your pairing code is ${code}. Ask the owner to approve it; it expires soon.`,
              }),
            );
          },
          ...(deps.onAccepted ? { onAccepted: deps.onAccepted } : {}),
          ...(deps.files && n.files.length > 0
            ? {
                prepare: async (message) => {
                  let pending = downloading.get(n.deliveryId);
                  if (!pending) {
                    pending = deps.files!.fetch(n.files, acked).finally(() => downloading.delete(n.deliveryId));
                    downloading.set(n.deliveryId, pending);
                  }
                  const fetched = await pending;
                  const text = fetched.notes.length > 0 ? `${message.text}\n${fetched.notes.join('\n')}` : message.text;
                  return { ...message, text, ...(fetched.attachments.length > 0 ? { attachments: fetched.attachments } : {}) };
                },
              }
            : {}),
        },
        { deliveryId: n.deliveryId, message: n.message, isPrivate: n.isPrivate, mentioned: n.mentioned },
      ));
    }
    count(outcome);
    if (eventId) await seen.remember(eventId);
  };
  app.event('message', onMessage);
  app.event('app_mention', onMessage);

  app.action(/^ap:/, async ({ ack, body }) => {
    await ack();
    count('interaction');
    const parsed = BlockActions.safeParse(body);
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues }, 'not a block_actions payload; ignored');
      return;
    }
    const press = parsed.data;
    const channel = press.channel?.id ?? press.container?.channel_id;
    const messageTs = press.message?.ts ?? press.container?.message_ts;
    const actionId = press.actions[0]!.action_id;
    if (!channel) return;
    const bot = deps.identity();
    const outcome = await answerApprovalButton(
      { board: deps.board, turns: deps.turns, access: deps.access(), account: bot.teamId },
      {
        data: actionId,
        chatSessionKey: sessionKey({ platform: 'slack', account: bot.teamId, chatId: channel }),
        presserId: press.user.id,
        // Only the user and the bot are in an IM (D…): whoever presses there owns the conversation.
        ownDm: channel.startsWith('D'),
        platform: 'slack',
      },
    );
    if (!outcome.ok) {
      later(log, 'telling the presser why their button did nothing', () =>
        deps.client.chat.postEphemeral({ channel, user: press.user.id, text: outcome.message, ...(press.message?.thread_ts ? { thread_ts: press.message.thread_ts } : {}) }),
      );
      return;
    }
    if (messageTs) {
      const verdict = `${outcome.verdict} *${escapeMrkdwn(outcome.tool)}* (by <@${press.user.id}>)`;
      later(log, 'updating the approval message', () =>
        deps.client.chat.update({ channel, ts: messageTs, text: verdict, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: verdict } }] }),
      );
    }
  });
}
