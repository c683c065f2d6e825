import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Routes } from 'discord.js';
import { z } from 'zod';
import type { Registry } from 'prom-client';
import { counter, type Logger } from '@switchboard/observability';
import { DcMessage } from './payloads.ts';
import type { CatchupSession } from './gateway.ts';
import type { REST } from 'discord.js';

/** Where a tracked channel's messages belong: its server (none for a DM) and its chat/thread. */
export interface CatchupPlace {
  guildId?: string | undefined;
  chatId: string;
  threadId?: string | undefined;
}

export interface CatchupChannel {
  channelId: string;
  /** The newest message of the channel the service handled. */
  afterId: string;
  place: CatchupPlace;
}

/*
 * Records, per channel: the newest handled message id and where the channel belongs. `KEYS[1]` the
 * activity sorted set (channel → last activity ms), `KEYS[2]` the state hash (channel →
 * `id|guild|chat|thread`). ARGV: channel, message id, now ms, cutoff ms, cap, ttl ms, track (1/0),
 * place (`guild|chat|thread`, or empty to keep the stored one). A channel not tracked yet is only
 * added when `track` is 1. The id only ever moves forward (snowflakes compare by length, then text).
 */
const RECORD = `
local channel, id, place = ARGV[1], ARGV[2], ARGV[8]
if ARGV[7] ~= '1' and not redis.call('ZSCORE', KEYS[1], channel) then return 0 end
local cur = redis.call('HGET', KEYS[2], channel)
local curId = nil
if cur then
  local sep = string.find(cur, '|', 1, true)
  curId = string.sub(cur, 1, sep - 1)
  if place == '' then place = string.sub(cur, sep + 1) end
end
if place == '' then return 0 end
if curId and (#curId > #id or (#curId == #id and curId >= id)) then id = curId end
redis.call('HSET', KEYS[2], channel, id .. '|' .. place)
redis.call('ZADD', KEYS[1], ARGV[3], channel)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local over = redis.call('ZCARD', KEYS[1]) - #gone - tonumber(ARGV[5])
if over > 0 then
  for _, c in ipairs(redis.call('ZRANGE', KEYS[1], #gone, #gone + over - 1)) do table.insert(gone, c) end
end
for _, c in ipairs(gone) do
  redis.call('ZREM', KEYS[1], c)
  redis.call('HDEL', KEYS[2], c)
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`;
const RECORD_SHA = createHash('sha1').update(RECORD).digest('hex');

/**
 * The channels the bot is active in, for the catch-up after a fresh IDENTIFY: a sorted set by last
 * activity (capped at `maxChannels`, entries older than the window dropped) and, per channel, the
 * newest message the service handled. DMs and server channels/threads enter when a message there
 * was accepted (or got a pairing code); after that every handled message moves the id forward, so
 * chatter the bot ignored is not fetched again. Which channels are tracked is also kept in memory,
 * so a server's untracked chatter costs no Redis call.
 */
export class CatchupStore {
  private readonly redis: Redis;
  private readonly active: string;
  private readonly state: string;
  private readonly windowMs: number;
  private readonly maxChannels: number;
  private readonly known = new Set<string>();

  constructor(opts: { redis: Redis; prefix: string; botId: string; windowMs: number; maxChannels: number }) {
    this.redis = opts.redis;
    const base = `${opts.prefix}:ch:discord:${opts.botId}:catchup`;
    this.active = `${base}:active`;
    this.state = `${base}:state`;
    this.windowMs = opts.windowMs;
    this.maxChannels = opts.maxChannels;
  }

  /** Whether a handled message here is worth a Redis call (tracked, or about to be). */
  interested(channelId: string, track: boolean): boolean {
    return track || this.known.has(channelId);
  }

  /** Notes that `messageId` in `channelId` was handled; `place` given (and `track`) adds the channel. */
  async record(channelId: string, messageId: string, opts: { track: boolean; place?: CatchupPlace; nowMs?: number }): Promise<void> {
    if (!this.interested(channelId, opts.track)) return;
    const now = opts.nowMs ?? Date.now();
    const place = opts.place ? `${opts.place.guildId ?? ''}|${opts.place.chatId}|${opts.place.threadId ?? ''}` : '';
    const args = [this.active, this.state, channelId, messageId, now, now - this.windowMs, this.maxChannels, this.windowMs, opts.track ? '1' : '0', place];
    // EVALSHA: the script is sent once per Redis, not with every message.
    const added = (await this.redis.evalsha(RECORD_SHA, 2, ...args).catch((err: Error) => {
      if (!err.message.includes('NOSCRIPT')) throw err;
      return this.redis.eval(RECORD, 2, ...args);
    })) as number;
    if (added === 1) this.remember(channelId);
    else this.known.delete(channelId);
  }

  /** The channels active within the window, most recent first, at most `limit`. */
  async channels(limit: number, nowMs = Date.now()): Promise<CatchupChannel[]> {
    const ids = await this.redis.zrevrangebyscore(this.active, '+inf', nowMs - this.windowMs, 'LIMIT', 0, limit);
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.state, ...ids);
    const out: CatchupChannel[] = [];
    ids.forEach((channelId, i) => {
      const [afterId, guildId, chatId, threadId] = (values[i] ?? '').split('|');
      if (!afterId || !chatId || !/^\d{1,20}$/.test(afterId)) return;
      this.remember(channelId);
      out.push({ channelId, afterId, place: { ...(guildId ? { guildId } : {}), chatId, ...(threadId ? { threadId } : {}) } });
    });
    return out;
  }

  /** Stops tracking a channel (deleted, or the bot lost access). */
  async forget(channelId: string): Promise<void> {
    this.known.delete(channelId);
    await this.redis.multi().zrem(this.active, channelId).hdel(this.state, channelId).exec();
  }

  private remember(channelId: string): void {
    this.known.delete(channelId);
    this.known.add(channelId);
    // Bounded like the sorted set (a little slack: other processes may track other channels).
    if (this.known.size > this.maxChannels * 2) this.known.delete(this.known.values().next().value!);
  }
}

export function catchupMetrics(registry: Registry) {
  return {
    messages: counter(registry, {
      name: 'switchboard_discord_catchup_messages_total',
      help: 'Messages fetched after a fresh gateway session, by how they were handled (accepted, duplicate, ignored, denied, pairing, rejected, failed)',
      labelNames: ['outcome'] as const,
    }),
    channels: counter(registry, {
      name: 'switchboard_discord_catchup_channels_total',
      help: 'Channels caught up after a fresh gateway session, by outcome (done, capped, failed, gone)',
      labelNames: ['outcome'] as const,
    }),
  };
}
export type CatchupMetrics = ReturnType<typeof catchupMetrics>;

/** Discord's answer for a channel the bot cannot see any more: stop tracking it. */
const GONE_CODES = new Set([10003, 50001, 50013]);
const MessagePage = z.array(z.unknown());

const compareIds = (a: string, b: string) => (a.length - b.length) || (a < b ? -1 : a > b ? 1 : 0);

/**
 * The catch-up after a fresh IDENTIFY (a RESUME replays by itself): for each channel active within
 * the window (at most `maxChannels`, most recent first), fetches the messages after the newest one
 * handled (`GET /channels/{id}/messages?after=&limit=100` through the REST client, which keeps the
 * rate limits; Discord returns each page newest first, so it is sorted), oldest first, at most
 * `maxMessages` per channel, and hands them to the session, which runs them through the gateway's
 * own handling ahead of anything the new session delivered for that channel. Never throws.
 */
export async function runCatchup(opts: {
  store: CatchupStore;
  rest: Pick<REST, 'get'>;
  session: CatchupSession;
  maxChannels: number;
  maxMessages: number;
  /** Whether this session's shard has the channel (others are caught up by their own shard). */
  owns?: (place: CatchupPlace) => boolean;
  /** Channels fetched at once (default 4); the REST client queues per route anyway. */
  concurrency?: number;
  metrics: CatchupMetrics;
  logger: Logger;
  isClosed: () => boolean;
}): Promise<{ channels: number; messages: number }> {
  const { store, rest, session, metrics, logger } = opts;
  let channels: CatchupChannel[];
  try {
    channels = (await store.channels(opts.maxChannels)).filter((c) => opts.owns?.(c.place) ?? true);
  } catch (err) {
    logger.error({ err }, 'discord catch-up: could not read the active channels; skipping it');
    session.end();
    return { channels: 0, messages: 0 };
  }
  session.hold(channels.map((c) => c.channelId));
  let total = 0;
  const one = async (c: CatchupChannel) => {
    let count = 0;
    let outcome: 'done' | 'capped' | 'failed' | 'gone' = 'done';
    try {
      let after = c.afterId;
      for (;;) {
        if (opts.isClosed()) return;
        const limit = Math.min(100, opts.maxMessages - count);
        if (limit <= 0) {
          outcome = 'capped';
          break;
        }
        const page = MessagePage.parse(await rest.get(Routes.channelMessages(c.channelId), { query: new URLSearchParams({ after, limit: String(limit) }) }));
        const messages = page.map((raw) => ({ raw, parsed: DcMessage.safeParse(raw) }));
        const ids = messages.map((m) => (m.parsed.success ? m.parsed.data.id : undefined)).filter((id): id is string => id !== undefined);
        messages.sort((a, b) => compareIds(a.parsed.data?.id ?? '0', b.parsed.data?.id ?? '0'));
        for (const m of messages) {
          if (!m.parsed.success) {
            metrics.messages.inc({ outcome: 'rejected' });
            logger.warn({ channelId: c.channelId }, 'discord catch-up: skipped a message that is not a Discord message');
            continue;
          }
          // REST message objects carry no guild_id (MESSAGE_CREATE does): put back what the channel is.
          const msg = { ...m.parsed.data, ...(c.place.guildId ? { guild_id: c.place.guildId } : {}) };
          const handled = await session.handle(msg, c.place);
          metrics.messages.inc({ outcome: handled });
          count += 1;
        }
        if (ids.length === 0) break;
        after = ids.reduce((a, b) => (compareIds(a, b) >= 0 ? a : b));
        if (page.length < limit) break;
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number' && GONE_CODES.has(code)) {
        outcome = 'gone';
        await store.forget(c.channelId).catch(() => undefined);
      } else outcome = 'failed';
      logger.warn({ err, channelId: c.channelId, outcome }, 'discord catch-up of a channel failed');
    } finally {
      session.release(c.channelId);
      total += count;
      metrics.channels.inc({ outcome });
      if (outcome === 'capped') logger.warn({ channelId: c.channelId, messages: count }, 'discord catch-up: stopped at DISCORD_CATCHUP_MAX_MESSAGES; the later missed messages of this channel are skipped');
    }
  };
  const queue = [...channels];
  const workers = Array.from({ length: Math.min(opts.concurrency ?? 4, queue.length) }, async () => {
    for (let c = queue.shift(); c; c = queue.shift()) await one(c);
  });
  await Promise.all(workers);
  session.end();
  logger.info({ channels: channels.length, messages: total }, 'discord catch-up done');
  return { channels: channels.length, messages: total };
}
