import { describe, expect, it } from 'vitest';
import { loadDiscordConfig } from '@switchboard/discord';
import { loadSlackConfig } from '@switchboard/slack';
import { loadTelegramConfig } from '@switchboard/telegram';
import { loadWhatsAppConfig } from '@switchboard/whatsapp';

/** The message a loader throws for `env`, or '' when it accepts it. */
function refusal(load: () => unknown): string {
  try {
    load();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe("the channels' API base URLs", () => {
  const cases = [
    ['TELEGRAM_API_ROOT', (v: string) => loadTelegramConfig({ TELEGRAM_API_ROOT: v })],
    ['TELEGRAM_WEBHOOK_URL', (v: string) => loadTelegramConfig({ TELEGRAM_WEBHOOK_URL: v })],
    ['SLACK_API_URL', (v: string) => loadSlackConfig({ SLACK_API_URL: v })],
    ['DISCORD_API_URL', (v: string) => loadDiscordConfig({ DISCORD_API_URL: v })],
    ['WHATSAPP_API_URL', (v: string) => loadWhatsAppConfig({ WHATSAPP_API_URL: v })],
  ] as const;

  it.each(cases)('%s must be a URL: a bad value stops start-up, named but not echoed', (name, load) => {
    for (const bad of ['api.example.com/secret-x1', 'ftp://files.example/secret-x2', 'https://']) {
      const message = refusal(() => load(bad));
      expect(message, bad).toMatch(new RegExp(name));
      expect(message, bad).not.toMatch(/secret-x/);
    }
    expect(refusal(() => load('https://proxy.example/api'))).toBe('');
  });

  it('accepts a loopback http test double, except for the public webhook URL', () => {
    for (const [name, load] of cases) {
      expect(refusal(() => load('http://127.0.0.1:8080/api')), name).toEqual(name === 'TELEGRAM_WEBHOOK_URL' ? expect.stringMatching(/TELEGRAM_WEBHOOK_URL/) : '');
    }
  });
});
