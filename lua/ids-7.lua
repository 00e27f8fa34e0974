-- Mints a run of Snowflake IDs inside Redis, for callers that cannot hold a lease. The
-- minter is a permanent holder of one shard of the group (taken from the same range
-- and allocator as members' shards, and never freed, so it collides with no member's
-- lease), and it uses the lease protocol of shards.lua: every call renews that lease,
-- so its reservation is min(TIME + B, ...) and, after a fresh start of the store (a
-- wipe, a restart from older data, a failover), its next IDs start above the new floor.
-- Within a unit, sequence numbers are handed out in order; when a unit is used up the
-- next one follows at once, ahead of TIME by at most B; beyond that the caller is told
-- to retry in a unit or so. Nothing waits or locks inside Redis.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1]  how many IDs are wanted (0 .. 2^sequenceBits; 0 only claims and checks)
-- ARGV[2]  lowest shard, ARGV[3] highest shard (the group's range)
-- ARGV[4]  B (ms), ARGV[5] the largest B this process has seen the group use (ms)
-- ARGV[6]  the layout and epoch, as text (must match the group's)
-- ARGV[7]  epoch (ms since 1970), ARGV[8] unit (ms), ARGV[9] sequence bits
-- ARGV[10] keep: how long change entries are kept (ms), for a group this call creates
--
-- Reply:
--   {1, shard, now, B, nRuns, unit, firstSeq, count, ...}  runs of IDs, in increasing order
--   {-2, retryInMs}             nothing minted: the next unit is beyond TIME + B, or no shard is free
--   {-3, option, groupValue}    the group uses another shard range, B or layout; nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local want, lo, hi = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hz, known_hz, lay = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local epoch, unit, seq_bits = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local keep = tonumber(ARGV[10])

local now = redis_now()
local g = load_group()
if g then
  local option, value = config_mismatch(g, lo, hi, hz, lay)
  if option then return {-3, option, value} end
  notice_restart(g, now, math.max(known_hz, hz))
else
  g = create_group(now, math.max(known_hz, hz))
  g.lk = keep
  redis.call('HSET', K_GROUP, 'lk', num(keep))
end
record_config(g, lo, hi, hz, lay)

-- The minter's shard: taken once, kept for good ("ids" in the shards hash).
local shard = tonumber(redis.call('HGET', K_SHARDS, 'ids') or '-1')
local claim = false
if shard < 0 then
  shard = pick_shard('\2ids', hi, now)
  if shard < 0 then
    local nxt = redis.call('ZRANGE', K_FREE, 0, 0, 'WITHSCORES')
    if nxt[2] then return {-2, tonumber(nxt[2]) - now} end
    return {-2, -1}
  end
  take_shard(shard)
  redis.call('HSET', K_SHARDS, 'ids', shard)
  claim = true
end
local reservation, floor = lease(g, shard, now + g.hz, now, 0, claim)
if want == 0 then return {1, shard, now, g.hz, 0} end

-- Units: above the lease's floor, at most the reservation, from the last unit on.
local max_seq = 2 ^ seq_bits
local first = math.floor((floor - epoch) / unit) + 1
local cap = math.floor((reservation - epoch) / unit)
local st = redis.call('HMGET', K_SHARDS, 'it:' .. shard, 'is:' .. shard)
local t, s = tonumber(st[1] or '-1'), tonumber(st[2] or '0')
local clock = math.floor((now - epoch) / unit)
if t < first or t < clock then
  t = math.max(first, clock, t + 1)
  s = 0
end
local reply = {1, shard, now, g.hz, 0}
while want > 0 do
  if s >= max_seq then
    t = t + 1
    s = 0
  end
  if t > cap then break end
  local n = math.min(want, max_seq - s)
  reply[#reply + 1] = num(t)
  reply[#reply + 1] = s
  reply[#reply + 1] = n
  reply[5] = reply[5] + 1
  s = s + n
  want = want - n
end
if reply[5] == 0 then return {-2, math.max(1, (t - cap) * unit)} end
redis.call('HSET', K_SHARDS, 'it:' .. shard, num(t), 'is:' .. shard, s)
return reply
