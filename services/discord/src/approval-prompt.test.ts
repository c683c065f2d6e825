/**
 * Before the fix, `approvalMessage` cut the arguments' JSON at 1500 characters and only then "defuses" each
 * ``` in it by inserting a zero-width space, which adds a character per fence: arguments full of
 * fences (a tool writing a markdown file, or anything the model was talked into) push the content
 * past 2000, Discord answers 400 (50035), the outbound worker fails the prompt for good, and the
 * user never sees the Approve/Deny buttons the turn is waiting for. The defusing also misses
 * runs of four or more backticks ("````" became "`\u200b```", which still closes the fence), and
 * the cut at 1500 could leave half of a surrogate pair.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REST } from 'discord.js';
import { startFakeDiscord, type FakeDiscord } from '@switchboard/testkit';
import { approvalMessage, DISCORD_MESSAGE_LIMIT } from './render.ts';
import { discordSender } from './sender.ts';

const BOT_ID = '111222333444555666';
const TOKEN = `${Buffer.from(BOT_ID).toString('base64')}.GhIjKl.right`;
let dc: FakeDiscord | undefined;
afterEach(async () => {
  await dc?.close();
  dc = undefined;
});

const notice = (args: unknown) => ({ id: `ap_${'a'.repeat(32)}`, turnId: 't', sessionKey: 's', platform: 'discord', account: BOT_ID, chatId: '800', tool: 'write_file', arguments: args });
const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('discord approval prompt', () => {
  it('stays within 2000 characters when the arguments are full of code fences, so Discord accepts it', async () => {
    dc = await startFakeDiscord({ token: TOKEN, bot: { id: BOT_ID, username: 'switchboard' } });
    const rest = new REST({ api: dc.apiUrl, retries: 0 }).setToken(TOKEN);
    const sender = discordSender(rest, BOT_ID);
    const n = notice({ path: 'NOTES.md', content: '```'.repeat(600) });
    expect(approvalMessage(n).content.length).toBeLessThanOrEqual(DISCORD_MESSAGE_LIMIT);
    // Through the REST client to the Discord double, which checks the limit as Discord does.
    await expect(sender.sendApproval({ account: BOT_ID, chatId: '800' }, n)).resolves.toBeUndefined();
    expect(dc.messages('800').some((m) => m.content.includes('write_file'))).toBe(true);
  });

  it('keeps arguments with four or more backticks inside the code block', () => {
    for (const content of ['````js\nx\n````', '`````', 'a``````b']) {
      const { content: text } = approvalMessage(notice({ content }));
      // Exactly our opening and closing fence.
      expect(text.match(/```/g), JSON.stringify(text)).toHaveLength(2);
    }
  });

  it('never cuts the arguments inside a surrogate pair', () => {
    for (let pad = 0; pad < 4; pad++) {
      const { content } = approvalMessage(notice({ t: `${'x'.repeat(1480 + pad)}${'\u{1F600}'.repeat(40)}` }));
      expect(content).not.toMatch(lone);
      expect(content.length).toBeLessThanOrEqual(DISCORD_MESSAGE_LIMIT);
    }
  });
});
