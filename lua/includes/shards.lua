-- Shard leases. Contract (checked in test/model/muster.pml):
--   S1 every reservation written is min(proposed, Redis TIME + B): no holder may mint
--      beyond B ahead of Redis time, whatever its clock;
--   S2 a new lease (a claim, or the first renewal after a fresh start of the store)
--      starts above floor_of(g, hw) = max(hw, wf, fs + B), so above everything reserved
--      on the shard before, also by a holder whose writes the store lost;
--   S3 the fence of a shard only grows (it is at least Redis TIME in us at every grant);
--   S4 a freed shard is quarantined for clockSkew + timeout before anyone claims it, so
--      the former holder's lease has surely lapsed on its own clock by then.
-- Needs group.lua.

-- The floor a new lease on a shard starts above.
local function floor_of(g, hw)
  return math.max(hw, g.wf, g.fs + (g.hz or 0))
end

-- Renews the lease on `shard`, or grants a new one when `claim` is true or when the
-- lease was granted before the latest fresh start. Returns reservation, floor, fence.
local function lease(g, shard, proposed, now, ttl, claim)
  local s = redis.call('HMGET', K_SHARDS, 'hw:' .. shard, 'fl:' .. shard, 'fe:' .. shard, 'in:' .. shard)
  local hw, fl, fe = tonumber(s[1] or '0'), tonumber(s[2] or '0'), tonumber(s[3] or '0')
  if claim or tonumber(s[4] or '-1') ~= g.inc then
    fl = floor_of(g, hw)
    fe = math.max(fe + 1, now * 1000)
    proposed = math.max(proposed, fl + ttl)
    redis.call('HSET', K_SHARDS, 'fl:' .. shard, num(fl), 'fe:' .. shard, num(fe), 'in:' .. shard, g.inc)
  end
  -- Invariant: no reservation ever exceeds Redis TIME + B, whatever the holder's clock
  -- or lead, so a fresh start's floor (now + B) is above all that was reserved before it.
  local r = math.min(proposed, now + g.hz)
  if r > hw then redis.call('HSET', K_SHARDS, 'hw:' .. shard, num(r)) end
  return r, fl, fe
end

local function free_shard(shard, id, now, quarantine)
  redis.call('ZADD', K_FREE, num(now + quarantine), shard)
  redis.call('HSET', K_SHARDS, 'by:' .. shard, id, 'st:' .. id, shard)
end

-- The shard a joiner takes, or -1 when every shard is held or quarantined: the
-- nodeId's previous one if it is free, then one never used, then the one free the longest.
-- Only shards in the group's range g.lo..g.hi (set-range may have narrowed it: shards
-- freed outside it stay in the free set, with their quarantine, for a later widening).
local function pick_shard(g, id, now)
  local lo, hi = g.lo, g.hi
  local st = tonumber(redis.call('HGET', K_SHARDS, 'st:' .. id))
  if st and st >= lo and st <= hi then
    local avail = redis.call('ZSCORE', K_FREE, st)
    if avail and tonumber(avail) <= now then return st end
  end
  -- Never handed out, from the top of the range (fresh, upward) or, after set-range
  -- widened it downward, from lf down. A shard with a high-water mark was used before
  -- a narrowing: it comes back only through the free set (or is still held).
  local fresh = tonumber(redis.call('HGET', K_GROUP, 'fresh'))
  while fresh <= hi and redis.call('HEXISTS', K_SHARDS, 'hw:' .. fresh) == 1 do fresh = fresh + 1 end
  if fresh <= hi then
    redis.call('HSET', K_GROUP, 'fresh', fresh + 1)
    return fresh
  end
  local lf = g.lf
  while lf and lf >= lo and redis.call('HEXISTS', K_SHARDS, 'hw:' .. lf) == 1 do lf = lf - 1 end
  if lf and lf >= lo then
    redis.call('HSET', K_GROUP, 'lf', lf - 1)
    return lf
  end
  local from = 0
  while true do
    local f = redis.call('ZRANGEBYSCORE', K_FREE, '-inf', num(now), 'LIMIT', from, 100)
    if #f == 0 then return -1 end
    for i = 1, #f do
      local k = tonumber(f[i])
      if k >= lo and k <= hi then return k end
    end
    from = from + 100
  end
end

-- Takes `shard` out of the free set and forgets its previous holder's claim to it.
local function take_shard(shard)
  if redis.call('ZREM', K_FREE, shard) == 1 then
    local prev = redis.call('HGET', K_SHARDS, 'by:' .. shard)
    if prev then
      redis.call('HDEL', K_SHARDS, 'by:' .. shard)
      if redis.call('HGET', K_SHARDS, 'st:' .. prev) == tostring(shard) then
        redis.call('HDEL', K_SHARDS, 'st:' .. prev)
      end
    end
  end
end
