import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ChannelAccess, ChannelMetrics } from '@switchboard/channels';
import { createRedis, type LaneIngress, type TurnQueue } from '@switchboard/lanes';
import { createLogger, createRegistry } from '@switchboard/observability';
import { uniquePrefix, waitFor } from '@switchboard/testkit';
import type { ApprovalBoard } from '@switchboard/tools';
import { catchupMetrics, CatchupStore, runCatchup } from './catchup.ts';
import { GatewayHandler } from './gateway.ts';
import { DcMessage } from './payloads.ts';

const BOT_ID = '111222333444555666';
const GUILD = '400000000000000000';
const logger = createLogger({ service: 'discord', level: 'silent' });
const redis = createRedis(inject('redisUrl'), 'catchup-unit');
afterAll(() => redis.disconnect());
const HOUR = 3_600_000;

const store = (o: { maxChannels?: number; windowMs?: number } = {}) =>
  new CatchupStore({ redis, prefix: uniquePrefix('dccu'), botId: BOT_ID, windowMs: o.windowMs ?? 24 * HOUR, maxChannels: o.maxChannels ?? 10 });

describe('CatchupStore', () => {
  it('adds a channel only when told to track it, and then only moves its id forward', async () => {
    const s = store();
    await s.record('301', '1000', { track: false });
    expect(await s.channels(10)).toEqual([]);
    await s.record('301', '1000', { track: true, place: { chatId: '301' } });
    // Longer snowflakes are newer even when they sort lower as text.
    await s.record('301', '999', { track: false });
    expect((await s.channels(10))[0]).toEqual({ channelId: '301', afterId: '1000', place: { chatId: '301' } });
    await s.record('301', '10001', { track: false });
    await s.record('502', '2000', { track: true, place: { guildId: GUILD, chatId: '500', threadId: '502' } });
    expect(await s.channels(10)).toEqual([
      { channelId: '502', afterId: '2000', place: { guildId: GUILD, chatId: '500', threadId: '502' } },
      { channelId: '301', afterId: '10001', place: { chatId: '301' } },
    ]);
  });

  it('keeps the most recent channels within the cap and drops those outside the window', async () => {
    const s = store({ maxChannels: 3 });
    const now = Date.now();
    for (let i = 0; i < 5; i++) await s.record(`40${i}`, '100', { track: true, place: { chatId: `40${i}` }, nowMs: now - (5 - i) * 1000 });
    expect((await s.channels(10, now)).map((c) => c.channelId)).toEqual(['404', '403', '402']);
    expect((await s.channels(2, now)).map((c) => c.channelId)).toEqual(['404', '403']);
    // A day later only what was active since is caught up.
    await s.record('405', '100', { track: true, place: { chatId: '405' }, nowMs: now + 24 * HOUR });
    expect((await s.channels(10, now + 24 * HOUR)).map((c) => c.channelId)).toEqual(['405']);
  });
});

/** A Discord REST message as `GET /channels/{id}/messages` returns it (no guild_id, no member). */
const restMessage = (id: string, channel: string, content: string, author = '100000000000000001') => ({
  id,
  type: 0,
  channel_id: channel,
  author: { id: author, username: 'alice', global_name: null },
  content,
  timestamp: new Date().toISOString(),
  edited_timestamp: null,
  mentions: content.includes(`<@${BOT_ID}>`) ? [{ id: BOT_ID, username: 'switchboard', bot: true }] : [],
  mention_roles: [],
  attachments: [],
});

/** A handler whose lane records what was submitted (deduped by delivery id, as LaneIngress does). */
function handler(s: CatchupStore) {
  const submitted: Array<{ text: string; sessionKey: string; isGroup: boolean }> = [];
  const seen = new Set<string>();
  const inc = () => undefined;
  const h = new GatewayHandler({
    rest: { post: async () => undefined, patch: async () => undefined } as never,
    bot: { id: BOT_ID, username: 'switchboard' },
    place: (id) => ({ chatId: id }),
    access: { decideDm: async () => ({ allow: true }), decideGroup: async () => 'allow', firstDelivery: async () => true } as unknown as ChannelAccess,
    ingress: {
      submit: async (m: { text: string; sessionKey: string; isGroup: boolean }, id: string) => {
        if (seen.has(id)) return { duplicate: true };
        seen.add(id);
        submitted.push({ text: m.text, sessionKey: m.sessionKey, isGroup: m.isGroup });
        return { duplicate: false };
      },
    } as unknown as LaneIngress,
    board: {} as ApprovalBoard,
    turns: {} as TurnQueue,
    metrics: { updates: { inc }, sends: { inc }, inbound: { inc } } as unknown as ChannelMetrics,
    logger,
    groupRequireMention: true,
    perUserInGroups: false,
    onHandled: async (x) => {
      const track = x.outcome === 'accepted' || x.outcome === 'duplicate';
      await s.record(x.channelId, x.messageId, { track, ...(x.place ? { place: x.place } : {}) });
    },
  });
  return { h, submitted };
}

describe('runCatchup', () => {
  it('fetches pages after the stored id, oldest first, ahead of the channel’s live messages; a message seen both ways is handled once', async () => {
    const s = store();
    const { h, submitted } = handler(s);
    const DM = '300000000000000001';
    const THREAD = '500000000000000002';
    await s.record(DM, '1000', { track: true, place: { chatId: DM } });
    await s.record(THREAD, '2000', { track: true, place: { guildId: GUILD, chatId: '500000000000000001', threadId: THREAD } });
    const history: Record<string, ReturnType<typeof restMessage>[]> = {
      [DM]: Array.from({ length: 5 }, (_, i) => restMessage(String(1001 + i), DM, `dm ${i + 1}`)),
      [THREAD]: [restMessage('2001', THREAD, 'chatter'), restMessage('2002', THREAD, `<@${BOT_ID}> in the thread`)],
    };
    const reads: string[] = [];
    let releaseFetch!: () => void;
    const fetchGate = new Promise<void>((r) => {
      releaseFetch = r;
    });
    const rest = {
      get: async (route: string, o: { query: URLSearchParams }) => {
        const channel = /\/channels\/(\d+)\/messages/.exec(route)![1]!;
        const after = BigInt(o.query.get('after')!);
        const limit = Number(o.query.get('limit'));
        reads.push(`${channel}>${after}/${limit}`);
        await fetchGate;
        // As Discord: the oldest `limit` after the id, newest first.
        return history[channel]!.filter((m) => BigInt(m.id) > after).slice(0, limit).reverse();
      },
    };
    const registry = createRegistry({ defaultMetrics: false });
    const session = h.startCatchup();
    // Live on the new session before the fetch answered: the DM's waits, another channel's does not.
    const liveDm = h.message(DcMessage.parse(restMessage('1006', DM, 'dm live')), false);
    const liveOther = h.message(DcMessage.parse(restMessage('1007', '300000000000000009', 'elsewhere')), false);
    // The live copy of a message the fetch also returns.
    const dupe = h.message(DcMessage.parse(restMessage('1003', DM, 'dm 3')), false);
    const run = runCatchup({ store: s, rest: rest as never, session, maxChannels: 10, maxMessages: 4, concurrency: 2, metrics: catchupMetrics(registry), logger, isClosed: () => false });
    await liveOther;
    expect(submitted.map((m) => m.text)).toEqual(['elsewhere']);
    releaseFetch();
    await run;
    expect(await liveDm).toBe('accepted');
    expect(await dupe).toBe('duplicate');
    const dmTexts = submitted.filter((m) => m.sessionKey.includes(DM)).map((m) => m.text);
    // Capped at 4 fetched (dm 5 is skipped and counted as capped), then the live one.
    expect(dmTexts).toEqual(['dm 1', 'dm 2', 'dm 3', 'dm 4', 'dm live']);
    // The thread's message is a server message (guild put back), in the thread's session under its parent.
    expect(submitted.find((m) => m.text === 'in the thread')).toMatchObject({ isGroup: true, sessionKey: expect.stringContaining(THREAD) });
    expect(submitted.some((m) => m.text === 'chatter')).toBe(false);
    expect(reads).toContain(`${DM}>1000/4`);
    const counts = Object.fromEntries((await registry.getMetricsAsJSON()).find((m) => m.name === 'switchboard_discord_catchup_channels_total')!.values.map((v) => [v.labels.outcome, v.value]));
    expect(counts).toEqual({ capped: 1, done: 1 });
    // The stored ids moved past everything handled; the other DM is tracked from its accepted message on.
    expect(Object.fromEntries((await s.channels(10)).map((c) => [c.channelId, c.afterId]))).toEqual({ [DM]: '1006', [THREAD]: '2002', '300000000000000009': '1007' });
  });

  it('pages with `after` set to the newest id of the previous page', async () => {
    const s = store();
    const { h, submitted } = handler(s);
    const DM = '300000000000000002';
    await s.record(DM, '1000', { track: true, place: { chatId: DM } });
    const all = Array.from({ length: 150 }, (_, i) => restMessage(String(1001 + i), DM, `n${i + 1}`));
    const afters: string[] = [];
    const rest = {
      get: async (_route: string, o: { query: URLSearchParams }) => {
        afters.push(o.query.get('after')!);
        return all.filter((m) => BigInt(m.id) > BigInt(o.query.get('after')!)).slice(0, Number(o.query.get('limit'))).reverse();
      },
    };
    await runCatchup({ store: s, rest: rest as never, session: h.startCatchup(), maxChannels: 10, maxMessages: 1000, metrics: catchupMetrics(createRegistry({ defaultMetrics: false })), logger, isClosed: () => false });
    expect(afters).toEqual(['1000', '1100']);
    expect(submitted.map((m) => m.text)).toEqual(all.map((m) => m.content));
  });

  it('forgets a channel the bot cannot read any more; another channel’s failure keeps it for next time', async () => {
    const s = store();
    const { h } = handler(s);
    await s.record('300000000000000003', '1000', { track: true, place: { chatId: '300000000000000003' } });
    await s.record('300000000000000004', '1000', { track: true, place: { chatId: '300000000000000004' } });
    const rest = {
      get: async (route: string) => {
        if (route.includes('300000000000000003')) throw Object.assign(new Error('Unknown Channel'), { code: 10003, status: 404 });
        throw Object.assign(new Error('Internal Server Error'), { status: 500 });
      },
    };
    await runCatchup({ store: s, rest: rest as never, session: h.startCatchup(), maxChannels: 10, maxMessages: 10, metrics: catchupMetrics(createRegistry({ defaultMetrics: false })), logger, isClosed: () => false });
    await waitFor(async () => (await s.channels(10)).length === 1);
    expect((await s.channels(10)).map((c) => c.channelId)).toEqual(['300000000000000004']);
  });
});
