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
