/**
 * Approval prompts travel in the durable outbound queue: a Telegram replica that goes away after
 * accepting a message costs nothing. A new replica shows the buttons, and a press on it resumes
 * the parked turn.
 */
import { Redis } from 'ioredis';
import { afterEach, expect, inject, it } from 'vitest';
import { laneKeys } from '@switchboard/lanes';
import { waitFor, type FakeScript } from '@switchboard/testkit';
import { dmUpdate, pressUpdate, startTelegramRig, type TelegramRig } from '../channels/telegram-rig.ts';

let r: TelegramRig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

it('a new Telegram instance sends the approval buttons of a turn accepted by a stopped one, and its press resumes the turn', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const script: FakeScript = async (body) => {
    const tool = body.messages.find((m) => m.role === 'tool');
    if (tool) return { text: `tool said: ${String(tool.content)}` };
    await gate; // the model "thinks" until the first instance is gone
    return { toolCalls: [{ id: 'call_echo', name: 'echo', arguments: { text: 'launch codes' } }] };
  };
  r = await startTelegramRig({ env: { TOOLS_ASK: 'echo' }, script });
  const rig = r;
  expect((await rig.post(dmUpdate(151, 'use the tool'))).status).toBe(200);
  await waitFor(() => rig.t.model.requests.length > 0, { timeoutMs: 20_000 });
  await rig.stopInstance();
  release();

  // The turn parks and announces the request while no Telegram instance runs.
  const redis = new Redis(inject('redisUrl'));
  try {
    await waitFor(async () => (await redis.xrange(laneKeys(rig.t.prefix).events('telegram:777001:151'), '-', '+')).some(([, f]) => f.join(' ').includes('approval_request')), { timeoutMs: 20_000 });
  } finally {
    redis.disconnect();
  }
  expect(rig.tg.chat(151).filter((m) => m.replyMarkup !== undefined)).toEqual([]);

  await rig.startInstance();
  const prompt = await waitFor(() => rig.tg.chat(151).find((m) => m.replyMarkup !== undefined), { timeoutMs: 20_000 });
  expect(prompt.text).toContain('echo');
  const keyboard = prompt.replyMarkup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
  const approve = keyboard.inline_keyboard[0]!.find((b) => b.text === 'Approve')!;
  expect((await rig.post(pressUpdate(151, { id: 151, type: 'private' }, prompt.messageId, approve.callback_data))).status).toBe(200);
  await waitFor(() => rig.tg.chat(151).some((m) => m.text === 'tool said: launch codes'), { timeoutMs: 20_000 });
  // One prompt, one answer: nothing was sent twice across the two instances.
  expect(rig.tg.succeeded('sendMessage').filter((c) => c.params.reply_markup !== undefined)).toHaveLength(1);
  expect(rig.tg.chat(151).filter((m) => m.text.startsWith('tool said:'))).toHaveLength(1);
});
