import { describe, expect, it } from 'vitest';
import { handleUpdate, type WebhookDeps } from './webhook.ts';

const groupMention = (id: number) => ({
  update_id: id,
  message: {
    message_id: id,
    date: 1_700_000_000,
    chat: { id: -100200, type: 'supergroup', title: 'team' },
    from: { id: 7, is_bot: false, first_name: 'u7' },
    text: '@switchboard_bot are you there',
    entities: [{ type: 'mention', offset: 0, length: 16 }],
  },
});

describe('telegram updates', () => {
  it('fail a group message (to be delivered again) while the bot does not know its username yet', async () => {
    const deps = { bot: { id: '4242', username: undefined }, groupRequireMention: true } as unknown as WebhookDeps;
    await expect(handleUpdate(deps, groupMention(1) as never)).rejects.toThrow(/username is not known yet/);
  });
});
