import type { FakeTelegramMessage } from '@switchboard/testkit';
import { channelContract, type ApprovalPrompt, type ChannelRig, type Delivery, type Where } from './contract.ts';
import { approvePairing, dmUpdate, GROUP_ID, groupUpdate, mention, pressUpdate, startTelegramRig, TOKEN } from './telegram-rig.ts';

type Keyboard = { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
const keyboardOf = (m: FakeTelegramMessage) => m.replyMarkup as Keyboard | undefined;

channelContract({
  platform: 'telegram',
  messageLimit: 4096,
  codeBalanced: (part) => part.split('<pre>').length === part.split('</pre>').length && part.split('<code').length === part.split('</code>').length,
  users: { alice: '111', bob: '222' },
  async start(opts = {}): Promise<ChannelRig> {
    const rig = await startTelegramRig({ env: opts.env ?? {}, ...(opts.script ? { script: opts.script } : {}) });
    let last: unknown;
    const deliver = async (update: unknown, secret?: string): Promise<Delivery> => {
      last = update;
      return { status: (await rig.post(update, secret)).status };
    };
    let rateLimited = 0;
    let retryAfterSeconds = 1;
    rig.tg.setFailer((call) => {
      if (rateLimited > 0 && (call.method === 'sendMessage' || call.method === 'editMessageText')) {
        rateLimited -= 1;
        return { status: 429, retryAfterSeconds };
      }
      return undefined;
    });
    // Approval prompts stay where they were posted: the verdict edit replaces their keyboard.
    const prompts = new Map<number, { chat: string; data: Record<'approve' | 'deny', string> }>();
    const scanPrompts = () => {
      for (const m of rig.tg.messages()) {
        const buttons = keyboardOf(m)?.inline_keyboard.flat() ?? [];
        const approve = buttons.find((b) => b.text === 'Approve');
        const deny = buttons.find((b) => b.text === 'Deny');
        if (approve && deny && !prompts.has(m.messageId)) prompts.set(m.messageId, { chat: m.chatId, data: { approve: approve.callback_data, deny: deny.callback_data } });
      }
    };
    return {
      system: rig.t,
      get registry() {
        return rig.current.registry;
      },
      dm: (user, text) => deliver(dmUpdate(Number(user), text)),
      group: (user, text, { mention: m }) => deliver(groupUpdate(Number(user), '', m ? mention(text) : { text })),
      redeliverLast: () => deliver(last),
      forged: (user, text) => deliver(dmUpdate(Number(user), text), 'not-the-secret'),
      malformed: () => deliver({ update_id: 'nope', message: { text: 1 } }),
      said: (where: Where) => rig.tg.chat(where === 'group' ? GROUP_ID : where.dm).map((m) => m.text),
      sendCalls: () => rig.tg.calls.filter((c) => c.method === 'sendMessage' || c.method === 'editMessageText').length,
      rateLimitNext(n, retryAfterMs) {
        // Telegram's retry_after is whole seconds.
        retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
        rateLimited += n;
      },
      approvalPrompts(): ApprovalPrompt[] {
        scanPrompts();
        const current = new Map(rig.tg.messages().map((m) => [m.messageId, m]));
        return [...prompts.entries()].map(([messageId, p]) => ({
          text: current.get(messageId)?.text ?? '',
          press: async (user, choice) => {
            const chat = Number(p.chat) < 0 ? { id: Number(p.chat), type: 'supergroup' } : { id: Number(p.chat), type: 'private' };
            return deliver(pressUpdate(Number(user), chat, messageId, p.data[choice]));
          },
        }));
      },
      edits: () => rig.tg.succeeded('editMessageText').length,
      async userDeletes(where, index) {
        const m = rig.tg.chat(where === 'group' ? GROUP_ID : where.dm)[index]!;
        const res = await fetch(`${rig.tg.apiRoot}/bot${TOKEN}/deleteMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: m.chatId, message_id: m.messageId }) });
        if (!res.ok) throw new Error(`deleteMessage answered ${res.status}`);
      },
      typings: (where: Where) => rig.tg.succeeded('sendChatAction').filter((c) => String(c.params.chat_id) === String(where === 'group' ? GROUP_ID : where.dm)).length,
      approvePairing: (code) => approvePairing(rig, code),
      close: () => rig.close(),
    };
  },
});
