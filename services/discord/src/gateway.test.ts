import { describe, expect, it } from 'vitest';
import { approvalAction, type ChannelAccess, type ChannelMetrics } from '@switchboard/channels';
import type { LaneIngress, TurnQueue } from '@switchboard/lanes';
import { createLogger } from '@switchboard/observability';
import type { ApprovalBoard } from '@switchboard/tools';
import { GatewayHandler } from './gateway.ts';
import { DcInteraction } from './payloads.ts';

const BOT_ID = '111222333444555666';
const APPROVAL = `ap_${'b'.repeat(32)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ChannelAccess`' delivery markers in memory: `handleOnce` forgets a delivery whose handling failed. */
function onceAccess() {
  const seen = new Set<string>();
  const firstDelivery = async (id: string) => !seen.has(id) && Boolean(seen.add(id));
  const handleOnce = async <T>(id: string, handle: () => Promise<T>): Promise<T | 'duplicate'> => {
    if (!(await firstDelivery(id))) return 'duplicate';
    try {
      return await handle();
    } catch (err) {
      seen.delete(id);
      throw err;
    }
  };
  return { firstDelivery, handleOnce };
}

/** A handler over stand-ins: the approval board decides after `decideMs`, as a slow Redis would. */
function handler(decideMs: number, allowed: boolean, opts: { getFailures?: number } = {}) {
  let getFailures = opts.getFailures ?? 0;
  const calls: Array<{ method: string; route: string; body: unknown }> = [];
  const rest = {
    post: async (route: string, o?: { body?: unknown }) => void calls.push({ method: 'POST', route, body: o?.body }),
    patch: async (route: string, o?: { body?: unknown }) => void calls.push({ method: 'PATCH', route, body: o?.body }),
  };
  const board = {
    get: async () => {
      if (getFailures > 0) {
        getFailures -= 1;
        throw new Error('redis connection reset');
      }
      return { sessionKey: `discord:${BOT_ID}:555`, tool: 'echo' };
    },
    decide: async () => {
      await sleep(decideMs);
      return { ok: true, state: { sessionKey: `discord:${BOT_ID}:555` } };
    },
  };
  const inc = () => undefined;
  const h = new GatewayHandler({
    rest: rest as never,
    bot: { id: BOT_ID, username: 'switchboard' },
    place: (id) => ({ chatId: id }),
    access: { ...onceAccess(), isAllowed: async () => allowed } as unknown as ChannelAccess,
    ingress: {} as LaneIngress,
    board: board as unknown as ApprovalBoard,
    turns: { request: async () => undefined } as unknown as TurnQueue,
    metrics: { updates: { inc }, sends: { inc }, inbound: { inc } } as unknown as ChannelMetrics,
    logger: createLogger({ service: 'discord', level: 'silent' }),
    groupRequireMention: true,
    perUserInGroups: false,
    deferInteractionAfterMs: 30,
  });
  return { h, calls };
}

const press = (guild: boolean) =>
  DcInteraction.parse({
    id: '900000000000000001',
    application_id: BOT_ID,
    type: 3,
    token: 'itoken',
    channel_id: '555',
    ...(guild ? { guild_id: '700', member: { user: { id: '42', username: 'alice' }, nick: null } } : { user: { id: '42', username: 'alice' } }),
    data: { custom_id: approvalAction(APPROVAL, 'approve'), component_type: 2 },
    message: { id: '800' },
  });

describe('GatewayHandler button presses', () => {
  it('answers a quick decision in the callback itself, replacing the prompt', async () => {
    const { h, calls } = handler(0, true);
    expect(await h.interaction(press(false))).toBe('interaction');
    expect(calls).toEqual([
      { method: 'POST', route: '/interactions/900000000000000001/itoken/callback', body: { type: 7, data: { content: 'Approved: `echo` (by alice)', components: [], allowed_mentions: { parse: [] } } } },
    ]);
  });

  it('answers a press whose first handling failed (the retry is not taken for a duplicate)', async () => {
    const { h, calls } = handler(0, true, { getFailures: 1 });
    expect(await h.interaction(press(false))).toBe('interaction');
    expect(calls.map((c) => c.route)).toEqual(['/interactions/900000000000000001/itoken/callback']);
    expect(await h.interaction(press(false))).toBe('duplicate');
  });

  it('defers a slow decision within the deadline, then edits the prompt through the interaction webhook', async () => {
    const { h, calls } = handler(150, true);
    expect(await h.interaction(press(false))).toBe('interaction');
    expect(calls).toEqual([
      { method: 'POST', route: '/interactions/900000000000000001/itoken/callback', body: { type: 6 } },
      { method: 'PATCH', route: `/webhooks/${BOT_ID}/itoken/messages/@original`, body: { content: 'Approved: `echo` (by alice)', components: [], allowed_mentions: { parse: [] } } },
    ]);
  });

  it('tells a presser who may not answer, privately, also after a deferral', async () => {
    const quick = handler(0, false);
    await quick.h.interaction(press(true));
    expect(quick.calls).toEqual([
      { method: 'POST', route: '/interactions/900000000000000001/itoken/callback', body: { type: 4, data: { content: 'You are not allowed to answer this request.', flags: 64, allowed_mentions: { parse: [] } } } },
    ]);
    // The refusal comes from isAllowed; make that the slow step.
    const slow = handler(0, false);
    const access = (slow.h as unknown as { deps: { access: { isAllowed: () => Promise<boolean> } } }).deps.access;
    access.isAllowed = async () => {
      await sleep(150);
      return false;
    };
    await slow.h.interaction(press(true));
    expect(slow.calls).toEqual([
      { method: 'POST', route: '/interactions/900000000000000001/itoken/callback', body: { type: 6 } },
      { method: 'POST', route: `/webhooks/${BOT_ID}/itoken`, body: { content: 'You are not allowed to answer this request.', flags: 64, allowed_mentions: { parse: [] } } },
    ]);
  });
});
