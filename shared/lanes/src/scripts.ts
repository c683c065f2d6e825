import { LuaScript } from './lua.ts';

/**
 * Appends a message to a session inbox unless its idempotency key was seen. The entry holds the
 * message (`m`, JSON) and its id (`i`), which the claim reads without decoding the JSON.
 * KEYS: inbox, pending, dedupe (may be the sentinel key '-'), arrivals channel, events stream
 * ARGV: message json, message id, dedupe ttl seconds, session key, now ms
 * Returns {messageId, duplicate(0|1), id of the session's newest event ('0' for none)}: every
 * event about this message comes after that id.
 */
export const appendInbound = new LuaScript(`
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local lastEvent = '0'
if #last > 0 then lastEvent = last[1][1] end
if KEYS[3] ~= '-' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {existing, 1, lastEvent} end
end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[1], 'i', ARGV[2])
-- An emptied inbox is kept for a while (see ackBatch); one with messages never expires.
redis.call('PERSIST', KEYS[1])
if KEYS[3] ~= '-' then redis.call('SET', KEYS[3], ARGV[2], 'EX', tonumber(ARGV[3])) end
redis.call('ZADD', KEYS[2], 'NX', tonumber(ARGV[5]), ARGV[4])
redis.call('PUBLISH', KEYS[4], ARGV[4] .. ' ' .. ARGV[2])
return {ARGV[2], 0, lastEvent}
`);

/**
 * Gives up a claimed batch without acknowledging it (an interrupted turn): the next claim takes
 * the batch again together with whatever arrived since, as a new turn. The turn hash keeps only a
 * count of releases, which makes that turn's id differ from this one's (see claimBatch).
 * Only the batch's latest claim may give it back: a stalled run whose batch was resumed elsewhere
 * (same turn id, newer fencing token) must not hand the resumed run's batch, and the steps it
 * checkpointed, to a new turn.
 * KEYS: turn hash, steps list
 * ARGV: turn id, fencing token
 * Returns 1 if released, 0 if the batch belongs to another turn or to a newer claim of this one.
 */
export const releaseBatch = new LuaScript(`
local claim = redis.call('HMGET', KEYS[1], 'turnId', 'fence')
if claim[1] ~= ARGV[1] or (claim[2] and claim[2] ~= ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], 'turnId', 'first', 'last', 'fence')
redis.call('HINCRBY', KEYS[1], 'released', 1)
redis.call('DEL', KEYS[2])
return 1
`);

/**
 * Lua shared by the scripts that append session events: `append_event(stream, channel, json,
 * maxlen, ttl)` adds the event to the stream and wakes its readers with
 * `<previous id>\n<id>\n<event json>` (the previous id is empty for a stream's first event), so a
 * reader that is up to date need not read the stream. Returns the event's stream id.
 */
const APPEND_EVENT_LUA = `
local function append_event(stream, channel, json, maxlen, ttl)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  local prev = ''
  if #last > 0 then prev = last[1][1] end
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'e', json)
  redis.call('EXPIRE', stream, ttl)
  redis.call('PUBLISH', channel, prev .. '\\n' .. id .. '\\n' .. json)
  return id
end
`;

/**
 * `next_fence(key, ttl)`: the session's next fencing token. The counter lives `ttl` seconds after
 * its last use; a missing one starts from Redis' clock in milliseconds, above every token it gave
 * before (one token per claim comes far slower than one per millisecond), so a session idle past
 * the TTL still gets tokens newer than those its commits recorded.
 */
const NEXT_FENCE_LUA = `
local function next_fence(key, ttl)
  if redis.call('EXISTS', key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', key, string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)))
  end
  local fence = redis.call('INCR', key)
  redis.call('EXPIRE', key, ttl)
  return fence
end
`;

/**
 * Claims the batch a turn works on. If a batch is recorded (a turn that crashed or was retried),
 * the same batch is returned so the resumed turn has the same id and the same messages.
 * Every claim (first or resumed) takes a new fencing token (see NEXT_FENCE_LUA): a commit must
 * present a token at least as new as the last committed one.
 * A new claim drops checkpoint steps left by an earlier turn (a stalled worker that wrote after its
 * turn was acknowledged), and announces its turn in the session's events (`turn_started` with the
 * batch's message ids), in the same step, so the announcement precedes every later event of the
 * turn. A resumed claim announces nothing: its batch was announced when first claimed. A batch
 * given back unacknowledged (an interrupted turn) is claimed anew, with a new turn id, and
 * announced again with whatever joined it.
 * KEYS: inbox, turn hash, fence counter, events stream, events channel, steps list
 * ARGV: max batch, turn id prefix, max events length, events ttl seconds, fence ttl seconds
 * Returns {turnId, resumed(0|1), entries, fence} or false when the inbox is empty.
 */
export const claimBatch = new LuaScript(`${APPEND_EVENT_LUA}${NEXT_FENCE_LUA}
local first = redis.call('HGET', KEYS[2], 'first')
if first then
  local last = redis.call('HGET', KEYS[2], 'last')
  local entries = redis.call('XRANGE', KEYS[1], first, last)
  local fence = next_fence(KEYS[3], tonumber(ARGV[5]))
  redis.call('HSET', KEYS[2], 'fence', fence)
  return {redis.call('HGET', KEYS[2], 'turnId'), 1, entries, fence}
end
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[1]))
if #entries == 0 then return false end
local ids = {}
for _, entry in ipairs(entries) do
  local fields, id, json = entry[2], nil, nil
  for j = 1, #fields, 2 do
    if fields[j] == 'i' then id = fields[j + 1] elseif fields[j] == 'm' then json = fields[j + 1] end
  end
  if id == nil and json ~= nil then
    -- An entry appended before ids had their own field: the id is in the message's JSON.
    local ok, message = pcall(cjson.decode, json)
    if ok and type(message) == 'table' and type(message.id) == 'string' then id = message.id end
  end
  if id ~= nil then ids[#ids + 1] = cjson.encode(id) end
end
local firstId = entries[1][1]
local lastId = entries[#entries][1]
-- A batch given back (released) and claimed again is a new turn: a stalled run of the old one must
-- not pass its commit or acknowledgement off as the new one's.
local released = redis.call('HGET', KEYS[2], 'released')
local turnId = ARGV[2] .. firstId
if released then turnId = turnId .. '.' .. released end
local fence = next_fence(KEYS[3], tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], 'turnId', turnId, 'first', firstId, 'last', lastId, 'fence', fence)
redis.call('DEL', KEYS[6])
local started = '{"type":"turn_started","turnId":' .. cjson.encode(turnId) .. ',"messageIds":[' .. table.concat(ids, ',') .. ']}'
append_event(KEYS[4], KEYS[5], started, tonumber(ARGV[3]), tonumber(ARGV[4]))
return {turnId, 0, entries, fence}
`);

/**
 * Skips a fencing token of each session (see LaneStore.bumpFences).
 * KEYS: fence counter
 * ARGV: fence ttl seconds
 */
export const bumpFence = new LuaScript(`${NEXT_FENCE_LUA}
return next_fence(KEYS[1], tonumber(ARGV[1]))
`);

/**
 * Checkpoints a step of a running turn, only while its claim is the batch's latest (the turn hash
 * records each claim's token): a stalled worker whose batch was claimed again, or acknowledged,
 * writes nothing.
 * KEYS: turn hash, steps list
 * ARGV: turn id, fencing token, step json
 * Returns 1 if saved, 0 if the turn was fenced off.
 */
export const saveStep = new LuaScript(`
local claim = redis.call('HMGET', KEYS[1], 'turnId', 'fence')
if claim[1] ~= ARGV[1] or claim[2] ~= ARGV[2] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
return 1
`);

/**
 * Acknowledges a finished turn: removes exactly its messages from the inbox and forgets the batch.
 * Only the batch's latest claim may: a stalled run whose batch was resumed elsewhere (same turn
 * id, newer fencing token) leaves the acknowledgement to the run that holds it now.
 * KEYS: inbox, turn hash, steps list, pending zset
 * ARGV: turn id, session key, ttl seconds of an emptied inbox, fencing token, then the stream ids to delete
 * Returns the number of messages still waiting, or -1 if the batch belongs to another turn or to
 * a newer claim of this one.
 */
export const ackBatch = new LuaScript(`
local claim = redis.call('HMGET', KEYS[2], 'turnId', 'fence')
if claim[1] and (claim[1] ~= ARGV[1] or (claim[2] and claim[2] ~= ARGV[4])) then return -1 end
for i = 5, #ARGV do redis.call('XDEL', KEYS[1], ARGV[i]) end
redis.call('DEL', KEYS[2], KEYS[3])
local left = redis.call('XLEN', KEYS[1])
if left == 0 then
  -- Kept (empty) rather than deleted: its last id stays, so the session's next messages get newer
  -- stream ids and its next turn a new turn id even when the clock steps back.
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  redis.call('ZREM', KEYS[4], ARGV[2])
else
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  local ms = tonumber(string.match(oldest[1][1], '^(%d+)'))
  redis.call('ZADD', KEYS[4], ms, ARGV[2])
end
return left
`);

/**
 * Appends an event to a session's event stream, once per dedupe key, and wakes its readers (see
 * APPEND_EVENT_LUA).
 * KEYS: events stream, delivered marker (or '-'), events channel
 * ARGV: event json, max stream length, ttl seconds
 * Returns the stream id (the first one, when the event was already appended).
 */
export const appendEvent = new LuaScript(`${APPEND_EVENT_LUA}
if KEYS[2] ~= '-' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return existing end
end
local id = append_event(KEYS[1], KEYS[3], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if KEYS[2] ~= '-' then redis.call('SET', KEYS[2], id, 'EX', tonumber(ARGV[3])) end
return id
`);
