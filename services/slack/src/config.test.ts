import { describe, expect, it } from 'vitest';
import { loadSlackConfig } from './config.ts';

describe('loadSlackConfig', () => {
  it('defaults: HTTP mode, pairing, mention required, 1 s per channel, slack.com API', () => {
    const c = loadSlackConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-abc' });
    expect(c).toMatchObject({ SLACK_DM_POLICY: 'pairing', SLACK_GROUP_REQUIRE_MENTION: true, SLACK_CHAT_INTERVAL_MS: 1000, SLACK_API_URL: 'https://slack.com/api/', PORT: 9202 });
    expect(c.SLACK_APP_TOKEN).toBeUndefined();
  });

  it('accepts rotating tokens, adds the trailing slash to SLACK_API_URL, treats empty values as unset', () => {
    const c = loadSlackConfig({ SLACK_BOT_TOKEN: 'xoxe.xoxb-1-abc', SLACK_API_URL: 'http://127.0.0.1:1234/api', SLACK_DM_POLICY: '', SLACK_APP_TOKEN: '' });
    expect(c.SLACK_API_URL).toBe('http://127.0.0.1:1234/api/');
    expect(c.SLACK_DM_POLICY).toBe('pairing');
  });

  it('names bad variables without echoing their values', () => {
    let message = '';
    try {
      loadSlackConfig({ SLACK_BOT_TOKEN: 'not-a-token-secret', SLACK_ALLOW_FROM: 'alice', SLACK_APP_TOKEN: 'xoxb-wrong-kind' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SLACK_BOT_TOKEN/);
    expect(message).toMatch(/SLACK_ALLOW_FROM/);
    expect(message).toMatch(/SLACK_APP_TOKEN/);
    expect(message).not.toMatch(/not-a-token-secret|xoxb-wrong-kind/);
  });
});
