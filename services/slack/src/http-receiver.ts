import express, { Router, type Request, type Response } from 'express';
import type { App, Receiver } from '@slack/bolt';
import type { ChannelMetrics } from '@switchboard/channels';
import { writeError, type Logger } from '@switchboard/observability';
import { parseDeliveryBody, SlackDelivery, SlackMessageEvent } from './events.ts';
import { verifySlackSignature } from './verify.ts';
import { issuesText } from '@switchboard/contracts';

export interface SlackHttpReceiverOptions {
  /** SLACK_SIGNING_SECRET; while unset every delivery is refused with 503. */
  signingSecret: string | undefined;
  /** False until auth.test answered: deliveries get 503 so Slack retries them later. */
  isReady(): boolean;
  /** Longest a delivery waits for its lane before the 200 goes out anyway, in ms. */
  ackDeadlineMs: number;
  metrics: ChannelMetrics;
  logger: Logger;
}

const firstHeader = (v: string | undefined) => v?.split(',')[0]?.trim();

/**
 * Bolt receiver for `POST /webhooks/slack` (Events API and interactivity), mounted on the
 * service's own express app. It checks the signature over the raw body, answers the
 * url_verification challenge, validates the payload (400, counted, nothing enqueued), and hands
 * the rest to Bolt's `processEvent`.
 *
 * Acknowledgement: Bolt acks an event before its listeners run; here the HTTP 200 goes out once
 * the listeners are done, which for a message means it is on its session lane (a few Redis round
 * trips), so a Redis failure answers 500 and Slack's retry (X-Slack-Retry-Num) delivers it again
 * instead of it being lost. Anything that calls Slack back (pairing codes, approval verdicts) runs
 * after the response. If admission is still running at `ackDeadlineMs` (Slack gives up at 3 s),
 * the 200 goes out anyway and admission finishes behind it; listeners see that through
 * `context.slackAcked()` (a file download that then fails becomes a note instead of a retry).
 */
export class SlackHttpReceiver implements Receiver {
  readonly router: Router;
  private app: App | undefined;
  private readonly opts: SlackHttpReceiverOptions;

  constructor(opts: SlackHttpReceiverOptions) {
    this.opts = opts;
    this.router = Router();
    this.router.post('/webhooks/slack', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        opts.logger.error({ err }, 'slack webhook handler failed');
        writeError(res, 500, 'handler_error', 'could not handle the delivery; Slack will retry');
      });
    });
  }

  init(app: App): void {
    this.app = app;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  private async handle(req: Request, res: Response): Promise<void> {
    const { metrics, logger: log } = this.opts;
    const count = (outcome: string) => metrics.updates.inc({ platform: 'slack', outcome });
    const reject = (message: string) => {
      count('rejected');
      metrics.inbound.inc({ platform: 'slack', outcome: 'rejected' });
      writeError(res, 400, 'bad_request', message);
    };
    const secret = this.opts.signingSecret;
    if (!secret) {
      count('unauthorized');
      return writeError(res, 503, 'config_error', 'SLACK_SIGNING_SECRET is not set on this server, so Slack deliveries are refused');
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verified = verifySlackSignature(secret, { timestamp: req.get('x-slack-request-timestamp'), signature: req.get('x-slack-signature') }, raw);
    if (!verified.ok) {
      count('unauthorized');
      log.warn({ reason: verified.reason }, 'refused a slack delivery');
      return writeError(res, 401, 'unauthorized', verified.reason);
    }
    let body: unknown;
    try {
      body = parseDeliveryBody(raw.toString('utf8'), req.get('content-type'));
    } catch {
      return reject('the body is not JSON (events) or a form with a JSON payload (interactivity)');
    }
    if ((body as { type?: unknown } | null)?.type === 'ssl_check') {
      res.status(200).end();
      return;
    }
    const parsed = SlackDelivery.safeParse(body);
    if (!parsed.success) return reject(`not a Slack event or interaction: ${issuesText(parsed.error.issues)}`);
    const delivery = parsed.data;
    if (delivery.type === 'url_verification') {
      res.json({ challenge: delivery.challenge });
      return;
    }
    if (delivery.type === 'event_callback' && (delivery.event.type === 'message' || delivery.event.type === 'app_mention')) {
      const event = SlackMessageEvent.safeParse(delivery.event);
      if (!event.success) return reject(`not a Slack message event: ${issuesText(event.error.issues, 'event')}`);
    }
    if (delivery.type === 'app_rate_limited') {
      count('ignored');
      log.warn({ minuteRateLimited: delivery.minute_rate_limited }, 'slack is dropping events: this app exceeded 30,000 events per workspace per hour');
      res.status(200).end();
      return;
    }
    if (!this.app || !this.opts.isReady()) {
      res.set('retry-after', '5');
      return writeError(res, 503, 'not_ready', 'the Slack connection is not identified yet (auth.test); Slack will retry');
    }
    const retryNum = Number.parseInt(firstHeader(req.get('x-slack-retry-num')) ?? '', 10);
    const retryReason = firstHeader(req.get('x-slack-retry-reason'));
    let ackBody: unknown;
    let responded = false;
    const respond = (status: number) => {
      if (responded || res.headersSent) return;
      responded = true;
      if (status !== 200) return writeError(res, status, 'handler_error', 'could not handle the delivery; Slack will retry');
      if (ackBody === undefined || ackBody === '') res.status(200).end();
      else if (typeof ackBody === 'string') res.status(200).send(ackBody);
      else res.status(200).json(ackBody);
    };
    const guard = setTimeout(() => {
      log.warn('a slack delivery is still being admitted at the ack deadline; acknowledging it now');
      respond(200);
    }, this.opts.ackDeadlineMs);
    try {
      await this.app.processEvent({
        body: delivery as Record<string, unknown>,
        ack: async (response?: unknown) => {
          ackBody = response;
        },
        ...(Number.isFinite(retryNum) ? { retryNum } : {}),
        ...(retryReason ? { retryReason } : {}),
        // Listeners read it from their context: after the 200 a failure cannot be left to Slack's retry.
        customProperties: { slackAcked: () => responded },
      });
      respond(200);
    } catch (err) {
      // Our side (Redis) failed: a 500 makes Slack redeliver, and dedupe keeps it once.
      log.error({ err, retryNum: Number.isFinite(retryNum) ? retryNum : 0 }, 'handling a slack delivery failed');
      respond(500);
    } finally {
      clearTimeout(guard);
    }
  }
}
