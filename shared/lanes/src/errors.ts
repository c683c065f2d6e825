import { SwitchboardError } from '@switchboard/contracts';

/**
 * Thrown when a turn tries to commit with a fencing token that is no longer current: another
 * worker took the session over (this one was stalled). The stale turn must stop without side effects.
 */
export class FencedError extends SwitchboardError {
  constructor(sessionKey: string, token: number) {
    super('fenced', `turn of ${sessionKey} was fenced off (token ${token} is stale)`);
    this.name = 'FencedError';
  }
}

/**
 * Thrown by a turn that must wait for something outside it (a human approving a tool call). The
 * batch stays claimed and unacknowledged; the turn resumes when the session's turn is requested again.
 */
export class TurnParkedError extends SwitchboardError {
  /** When the turn has something to do without being asked (an approval expires), in epoch ms. */
  readonly untilMs: number | undefined;
  constructor(reason: string, opts: { untilMs?: number } = {}) {
    super('handler_error', `turn parked: ${reason}`, { retryable: false });
    this.name = 'TurnParkedError';
    this.untilMs = opts.untilMs;
  }
}

/**
 * Thrown by a turn aborted because a newer message arrived (interrupt mode). Nothing was committed;
 * the batch is released and the next turn handles it together with the new message.
 */
export class TurnInterruptedError extends SwitchboardError {
  constructor(sessionKey: string) {
    super('handler_error', `turn of ${sessionKey} was interrupted by a new message`, { retryable: false });
    this.name = 'TurnInterruptedError';
  }
}
