import { sessionKey } from '@switchboard/contracts';
import { admitMessage, answerApprovalButton, type ChannelAccess, type ChannelMetrics, type NormalizedInbound } from '@switchboard/channels';
import type { LaneIngress, TurnQueue } from '@switchboard/lanes';
import type { Logger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import type { GraphApi } from './graph-api.ts';
import type { WhatsAppMedia } from './media.ts';
import { normalizeMessage } from './normalize.ts';
import type { WaMessage, WaValue } from './payload.ts';

export interface HandlerDeps {
  api: GraphApi;
  ingress: LaneIngress;
  access: ChannelAccess;
  board: ApprovalBoard;
  turns: TurnQueue;
  metrics: ChannelMetrics;
  logger: Logger;
  /** Only this business number is served (others are ignored); undefined: every number. */
  phoneNumberId: string | undefined;
  /** Remembers which business number a user wrote to, so the pairing approval can answer from it. */
  rememberAccount(userId: string, account: string): Promise<void>;
  /** Downloads images, documents, audio and video into the AttachmentStore; without it media stay references. */
  media?: WhatsAppMedia;
  /** Called once a new message is on its lane (typing indicator). */
  onAccepted?: (message: NormalizedInbound) => Promise<void>;
}

/** Background sends (pairing codes, approval verdicts): failures are logged, never thrown into the handling. */
function sendQuietly(deps: HandlerDeps, what: string, p: Promise<unknown>): void {
  p.catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, `whatsapp: could not send the ${what}`));
}

/**
 * Handles one `messages` change value: each message is normalized, access-checked and put on its
 * session lane once per wamid; reply-button presses answer approvals; statuses (sent, delivered,
 * read, failed) are not messages and are only logged when a send failed.
 */
export async function handleValue(deps: HandlerDeps, value: WaValue): Promise<string[]> {
  const outcomes: string[] = [];
  const account = value.metadata.phone_number_id;
  if (deps.phoneNumberId && account !== deps.phoneNumberId) {
    deps.logger.warn({ phoneNumberId: account }, 'whatsapp: delivery for another business number; ignored (see WHATSAPP_PHONE_NUMBER_ID)');
    return (value.messages ?? []).map(() => 'ignored');
  }
  for (const s of value.statuses ?? []) {
    if (s.status === 'failed') deps.logger.warn({ wamid: s.id, errors: s.errors }, 'whatsapp: a sent message failed to deliver');
  }
  for (const msg of value.messages ?? []) outcomes.push(await handleMessage(deps, value, msg));
  return outcomes;
}

async function handleMessage(deps: HandlerDeps, value: WaValue, msg: WaMessage): Promise<string> {
  const n = normalizeMessage(msg, value, Date.now());
  if (n.kind === 'ignored') return 'ignored';
  if (n.kind === 'button') {
    return deps.access.handleOnce(n.wamid, async () => {
      const outcome = await answerApprovalButton(
        { board: deps.board, turns: deps.turns, access: deps.access, account: n.account },
        {
          data: n.data,
          chatSessionKey: sessionKey({ platform: 'whatsapp', account: n.account, chatId: n.userId }),
          presserId: n.userId,
          // Cloud API chats are always the user's own DM with the business.
          ownDm: true,
          platform: 'whatsapp',
        },
      );
      const text = outcome.ok ? `${outcome.verdict}: *${outcome.tool}*` : outcome.message;
      sendQuietly(deps, 'approval verdict', deps.api.sendText(n.account, n.userId, text, n.wamid));
      return 'interaction';
    });
  }
  const m = n.message;
  return admitMessage(
    {
      platform: 'whatsapp',
      access: deps.access,
      ingress: deps.ingress,
      logger: deps.logger,
      groupRequireMention: false,
      sendPairingCode: async (chatId, code) => {
        await deps.rememberAccount(chatId, m.account);
        sendQuietly(
          deps,
          'pairing code',
          deps.api.sendText(m.account, chatId, `Hi! I only talk to people my owner approved. Your pairing code is ${code}. Ask the owner to approve it; it expires soon.`),
        );
      },
      ...(deps.onAccepted ? { onAccepted: deps.onAccepted } : {}),
      ...(deps.media && m.attachments?.length
        ? {
            prepare: async (message: NormalizedInbound) => {
              const fetched = await deps.media!.fetch(message.attachments ?? []);
              const text = fetched.notes.length > 0 ? `${message.text}\n${fetched.notes.join('\n')}` : message.text;
              const { attachments: _refs, ...rest } = message;
              return { ...rest, text, ...(fetched.attachments.length > 0 ? { attachments: fetched.attachments } : {}) };
            },
          }
        : {}),
    },
    { deliveryId: msg.id, message: m, isPrivate: true, mentioned: false },
  );
}
