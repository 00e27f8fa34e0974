-- Resets a group (`muster group reset`, `Group.reset()`): removes its members, shard
-- records, reports, change log and recorded config (shard range, B, timeouts), so that
-- the next member starts it with its own config; refuses while a member is alive unless
-- forced. What the floors need stays, in the group record:
--   R1 wf becomes max(wf, fs + B, every hw:<k>): a holder mints only up to its
--      reservation, and every reservation of this incarnation is recorded in its
--      shard's hw (a live holder's too: its next renewal, after the reset, is refused);
--      those of earlier incarnations the store may have lost lie below wf and fs + B
--      (S2). So every lease granted after the reset starts above all that any holder,
--      also one still running, may mint. (Not now + B: a joiner with a smaller B would
--      then wait for Redis time to reach the floor even when nothing was minted ahead.)
--   R2 created, inc and rid stay (a reset is not a wipe: members and named sequences that
--      knew the group know this record); inc grows by one so that watchers and members
--      read the live view afresh, and the counters of named sequences written in the
--      current incarnation are stamped with the new one (they are intact: this script
--      runs atomically with them, after noticing any restart);
--   R3 the Snowflake layout and epoch stay: IDs of another layout or epoch could equal
--      IDs minted before, whatever the floor (a new group name is the way to change it);
--   R4 the named sequences' counters stay.
--
-- KEYS: the seven group keys (see includes/group.lua); KEYS[8] the group's sequences
-- ARGV[1] '1' to reset even while members are alive (they get `lost` and rejoin)
--
-- Reply:
--   {1, now, floor, members, alive, shards, reports, logEntries, sequences, layout}
--   {0, now}                       no such group; nothing written
--   {-7, alive, id, ...}           members are alive (at most 20 ids); nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local K_SEQS = KEYS[8]
local now = redis_now()
local g = load_group()
if not g then return {0, now} end
notice_restart(g, now, 0)

local alive = {}
live_ids(g, now, alive)
if #alive > 0 and ARGV[1] ~= '1' then
  local reply = {-7, #alive}
  for i = 1, math.min(#alive, 20) do reply[#reply + 1] = alive[i] end
  return reply
end

local floor = math.max(g.wf, g.fs + (g.hz or 0))
local shards = 0
local facts = redis.call('HGETALL', K_SHARDS)
for i = 1, #facts, 2 do
  local kind = string.match(facts[i], '^(%a%a):')
  if kind == 'hw' then
    shards = shards + 1
    floor = math.max(floor, tonumber(facts[i + 1]))
  end
end
local members = redis.call('ZCARD', K_MEMBERS)
local reports = 0
local downs = redis.call('HKEYS', K_DOWNS)
for i = 1, #downs do
  if string.sub(downs[i], 1, 1) ~= '\1' then reports = reports + 1 end
end
local entries = redis.call('LLEN', K_LOG)

redis.call('DEL', K_MEMBERS, K_NODES, K_LOG, K_DOWNS, K_FREE, K_SHARDS)
redis.call('HDEL', K_GROUP, 'lo', 'hi', 'fresh', 'hz', 'mt', 'lk', 'ra', 'lf')
local old_inc = g.inc
g.inc = g.inc + 1
g.wf = floor
redis.call('HSET', K_GROUP, 'inc', g.inc, 'wf', num(floor))

local sequences = 0
local seqs = redis.call('HGETALL', K_SEQS)
local under = {}
for i = 1, #seqs, 2 do under[seqs[i]] = seqs[i + 1] end
for field, value in pairs(under) do
  local name = string.match(field, '^i:(.*)$')
  if name then
    sequences = sequences + 1
    local c = under['c:' .. name]
    if tonumber(value) == old_inc and (not c or c == g.created) then redis.call('HSET', K_SEQS, field, g.inc) end
  end
end
-- The record left keeps the floor: it must not expire before the floor is in the past.
if g.ex and g.ex > 0 and g.ex < 2 * (floor - now) then
  g.ex = 2 * (floor - now)
  redis.call('HSET', K_GROUP, 'ex', num(g.ex))
end
keep_alive(g, true)
return {1, now, num(floor), members, #alive, shards, reports, entries, sequences, g.lay or ''}
