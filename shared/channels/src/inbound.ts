import { Router, type Request, type Response } from 'express';
import type { InboundMessage } from '@switchboard/contracts';
import { dedupeKey, type LaneIngress } from '@switchboard/lanes';
import { writeError, type Logger } from '@switchboard/observability';
import type { ChannelAccess, PendingPairing } from './access.ts';

export type NormalizedInbound = Omit<InboundMessage, 'id'> & { id: string };

export interface AdmitDeps {
  platform: string;
  access: ChannelAccess;
  ingress: LaneIngress;
  logger: Logger;
  /** In groups, answer only messages that mention the bot or reply to it. */
  groupRequireMention: boolean;
  /** Tells an unknown DM sender their pairing code (sent once per code). */
  sendPairingCode(chatId: string, code: string): Promise<void>;
  /**
   * Runs after the access checks and before the lane (download attachments, for example): returns
   * the message to submit. A throw leaves nothing on the lane, so the platform's retry can redo it.
   */
  prepare?(message: NormalizedInbound): Promise<NormalizedInbound>;
  /** Called once a new message is on its lane (typing indicator, draft streaming...). Failures are logged only. */
  onAccepted?(message: NormalizedInbound): Promise<void>;
}

export interface AdmitInput {
  /** The platform's delivery id (update_id, event_id, message id, wamid): one handling per id. */
  deliveryId: string;
  message: NormalizedInbound;
  isPrivate: boolean;
  /** The bot was mentioned or replied to (groups). */
  mentioned: boolean;
}

export type AdmitOutcome = 'accepted' | 'duplicate' | 'denied' | 'pairing' | 'ignored';

/**
 * The access rules every channel applies before a message may reach the model, then the lane:
 * DMs by policy (pairing replies with a code once), groups by the group policy and only when
 * mentioned (if configured), and one lane entry per platform delivery id.
 */
export async function admitMessage(deps: AdmitDeps, input: AdmitInput): Promise<AdmitOutcome> {
  const { message } = input;
  if (input.isPrivate) {
    const decision = await deps.access.decideDm(message.userId, message.userName, message.chatId);
    if (!decision.allow) {
      if (decision.reason !== 'pairing') return 'denied';
      // Once per delivery; a send that fails forgets both markers, so the platform's redelivery
      // (or the sender's next message) tells the code after all.
      const told = await deps.access.handleOnce(`pair-${input.deliveryId}`, async () => {
        // The marker is set for a fresh code too, so a second message right after it does not repeat the code.
        const marker = `pair-told-${decision.code}`;
        const remind = await deps.access.once(marker, 600);
        if (decision.fresh || remind) {
          try {
            await deps.sendPairingCode(message.chatId, decision.code);
          } catch (err) {
            await deps.access.forgetOnce(marker).catch(() => undefined);
            throw err;
          }
        }
        return 'pairing' as const;
      });
      return told === 'duplicate' ? 'denied' : told;
    }
  } else {
    if (deps.groupRequireMention && !input.mentioned) return 'ignored';
    const group = await deps.access.decideGroup(message.userId);
    if (group === 'ignore') return 'ignored';
    if (group === 'deny') return 'denied';
  }
  const key = dedupeKey(deps.platform, message.account, input.deliveryId);
  // A redelivery of a message already on its lane is not prepared again (its files downloaded
  // and stored once more); it is still submitted, which repairs a lane whose turn request was lost.
  const ready = deps.prepare && !(await deps.ingress.seen(key)) ? await deps.prepare(message) : message;
  const result = await deps.ingress.submit(ready, key);
  if (result.duplicate) return 'duplicate';
  if (deps.onAccepted) {
    await deps.onAccepted(ready).catch((err: unknown) => deps.logger.warn({ err, sessionId: message.sessionKey }, 'post-accept hook failed'));
  }
  return 'accepted';
}

const isLoopback = (addr: string | undefined) => addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';

/**
 * `POST /admin/<platform>/pairings/:code/approve`, loopback clients only: pairs the user who was
 * given `code` and tells them.
 */
export function pairingRouter(opts: {
  platform: string;
  access: ChannelAccess;
  logger: Logger;
  notify(paired: PendingPairing): Promise<void>;
}): Router {
  const router = Router();
  router.post(`/admin/${opts.platform}/pairings/:code/approve`, async (req: Request, res: Response) => {
    if (!isLoopback(req.socket.remoteAddress)) {
      writeError(res, 403, 'forbidden', 'pairing approvals are accepted from loopback only');
      return;
    }
    const code = String(req.params.code ?? '');
    const paired = /^[A-Za-z0-9]{4,16}$/.test(code) ? await opts.access.approve(code) : undefined;
    if (!paired) {
      writeError(res, 404, 'not_found', 'no such pairing code (or it expired)');
      return;
    }
    opts.logger.info({ platform: opts.platform, userId: paired.userId }, 'user paired');
    await opts.notify(paired).catch((err: unknown) => opts.logger.warn({ err }, 'could not tell the paired user'));
    res.json({ userId: paired.userId, userName: paired.userName ?? null });
  });
  return router;
}
