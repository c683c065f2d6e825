import type { FakeSlackMessage } from '@switchboard/testkit';
import { channelContract, type ApprovalPrompt, type ChannelRig, type Delivery, type Where } from './contract.ts';
import { blockActions, BOT_TOKEN, channelEvent, dmEvent, envelope, formPayload, GROUP_CHANNEL, imOf, mentionTwin, startSlackRig } from './slack-rig.ts';

type Button = { type: string; action_id: string; text: { text: string } };
const buttonsOf = (m: FakeSlackMessage): Button[] =>
  ((m.blocks ?? []) as Array<{ type: string; elements?: Button[] }>).filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []);

channelContract({
  platform: 'slack',
  messageLimit: 4000,
  codeBalanced: (part) => (part.match(/```/g) ?? []).length % 2 === 0,
  users: { alice: 'U0ALICE001', bob: 'U0BOB00001' },
  async start(opts = {}): Promise<ChannelRig> {
    const rig = await startSlackRig({ env: opts.env ?? {}, ...(opts.script ? { script: opts.script } : {}) });
    let last: { body: string; contentType?: string } | undefined;
    const deliver = async (body: string, o: { secret?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Delivery> => {
      last = { body, ...(o.contentType ? { contentType: o.contentType } : {}) };
      return { status: (await rig.post(body, o)).status };
    };
    const prompts = new Map<string, { channel: string; threadTs: string | undefined; ids: Record<'approve' | 'deny', string> }>();
    const scanPrompts = () => {
      for (const m of rig.slack.messages()) {
        const buttons = buttonsOf(m);
        const approve = buttons.find((b) => b.text.text === 'Approve');
        const deny = buttons.find((b) => b.text.text === 'Deny');
        if (approve && deny && !prompts.has(m.ts)) prompts.set(m.ts, { channel: m.channel, threadTs: m.threadTs, ids: { approve: approve.action_id, deny: deny.action_id } });
      }
    };
    return {
      system: rig.t,
      registry: rig.registry,
      dm: (user, text) => deliver(JSON.stringify(envelope(dmEvent(user, text)))),
      async group(user, text, { mention }) {
        const message = channelEvent(user, mention ? `<@${rig.slack.botUserId}> ${text}` : text);
        const res = await deliver(JSON.stringify(envelope(message)));
        // Slack delivers a mention twice (message.channels and app_mention), under different event ids.
        if (mention) await rig.post(JSON.stringify(envelope(mentionTwin(message))));
        return res;
      },
      // Slack re-signs each attempt and says which attempt it is.
      redeliverLast: () => deliver(last!.body, { ...(last!.contentType ? { contentType: last!.contentType } : {}), headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } }),
      forged: (user, text) => deliver(JSON.stringify(envelope(dmEvent(user, text))), { secret: 'someoneelsessecret1' }),
      malformed: () => deliver(JSON.stringify({ type: 'event_callback', team_id: 'T0TEST0001', event_id: 'Ev0BROKEN', event: 'not an event' })),
      said: (where: Where) => rig.slack.messages(where === 'group' ? GROUP_CHANNEL : imOf(where.dm)).map((m) => m.text),
      sendCalls: () => rig.slack.sendCalls(),
      // Slack's Retry-After is whole seconds.
      rateLimitNext: (n, retryAfterMs) => rig.slack.rateLimitSends(n, Math.max(1, Math.ceil(retryAfterMs / 1000))),
      approvalPrompts(): ApprovalPrompt[] {
        scanPrompts();
        const current = new Map(rig.slack.messages().map((m) => [m.ts, m]));
        return [...prompts.entries()].map(([ts, p]) => ({
          text: JSON.stringify(current.get(ts)?.blocks ?? current.get(ts)?.text ?? ''),
          press: (user, choice) => deliver(formPayload(blockActions(user, p.channel, ts, p.ids[choice], p.threadTs)), { contentType: 'application/x-www-form-urlencoded' }),
        }));
      },
      edits: () => rig.slack.messages().reduce((n, m) => n + m.edits, 0),
      async userDeletes(where, index) {
        const m = rig.slack.messages(where === 'group' ? GROUP_CHANNEL : imOf(where.dm))[index]!;
        const res = await fetch(`${rig.slack.apiUrl}chat.delete`, { method: 'POST', headers: { authorization: `Bearer ${BOT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: m.channel, ts: m.ts }) });
        if (!((await res.json()) as { ok: boolean }).ok) throw new Error('chat.delete failed');
      },
      approvePairing: async (code) => (await fetch(`${rig.url}/admin/slack/pairings/${code}/approve`, { method: 'POST' })).status,
      close: () => rig.close(),
    };
  },
});
