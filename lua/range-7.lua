-- Changes the shard range of a group (`muster group set-range`, `Group.setRange()`),
-- live members or not. From then on the group's range decides which shards joiners get,
-- whatever range they ask for (ra). Safe because a range change touches no floor:
--   widening only adds shards; those not handed out yet come from `fresh` (upward) and
--   `lf` (downward); a shard used before a narrowing kept its hw/fl/fe in the shards
--   hash and its place in the free set (or its holder's record), so pick_shard hands it
--   out only from there, above its floor and after its quarantine;
--   narrowing is refused while a live member or a minter holds a shard outside the new
--   range; free shards outside it stay in the free set, skipped by pick_shard.
-- A dead member not yet reaped may still name a shard outside: it is freed when reaped
-- and skipped like the others.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1] new lowest shard
-- ARGV[2] new highest shard
--
-- Reply:
--   {1, now, oldLo, oldHi}   changed (oldLo = oldHi = -1: the group had no range)
--   {0, now}                 no such group; nothing written
--   {-8, shard, holder}      a shard outside the new range is held; nothing written
--   {-9, workerBits}         the range does not fit the group's Snowflake layout
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local lo, hi = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis_now()
local g = load_group()
if not g then return {0, now} end
notice_restart(g, now, 0)

if g.lay then
  local bits = tonumber(string.match(g.lay, '^%d+/(%d+)/'))
  if bits and hi >= 2 ^ bits then return {-9, bits} end
end

local outside = function(k) return k < lo or k > hi end
local ids = live_ids(g, now, {})
for from_i = 1, #ids, 1000 do
  local recs = redis.call('HMGET', K_NODES, unpack(ids, from_i, math.min(from_i + 999, #ids)))
  for i = 1, #recs do
    if recs[i] then
      local _, shard = unpack_record(recs[i])
      if shard >= 0 and outside(shard) then return {-8, shard, ids[from_i + i - 1]} end
    end
  end
end
-- Minters (Redis-side IDs) hold their shards for ever: fields of the shards hash that
-- are not facts of a shard or a nodeId.
local facts = redis.call('HGETALL', K_SHARDS)
for i = 1, #facts, 2 do
  if not string.match(facts[i], '^%a%a:') and outside(tonumber(facts[i + 1])) then
    return {-8, tonumber(facts[i + 1]), facts[i]}
  end
end

local old_lo, old_hi = g.lo or -1, g.hi or -1
if not g.lo then
  redis.call('HSET', K_GROUP, 'lo', lo, 'hi', hi, 'fresh', lo, 'ra', '1')
else
  local fresh = math.max(tonumber(redis.call('HGET', K_GROUP, 'fresh')), lo)
  -- Below the old range nothing was handed out since it was set: lo .. old lo - 1 joins
  -- what is left of an earlier widening (lf), all below the old lo. pick_shard skips
  -- any of them that was used before an earlier narrowing (it has a high-water mark).
  local lf = g.lf
  if lo < g.lo and (not lf or lf < g.lo) then lf = g.lo - 1 end
  if lf then lf = math.min(lf, hi) end
  redis.call('HSET', K_GROUP, 'lo', lo, 'hi', hi, 'fresh', fresh, 'ra', '1')
  if lf and lf >= lo then redis.call('HSET', K_GROUP, 'lf', lf) else redis.call('HDEL', K_GROUP, 'lf') end
end
keep_alive(g, true)
return {1, now, old_lo, old_hi}
