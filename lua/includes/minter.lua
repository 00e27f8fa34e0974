-- The group side of Redis-side minting: a minter is a permanent holder of one shard of
-- the group, taken from the same range and allocator as members' shards and never
-- freed (so it collides with no member's lease), and every use renews its lease under
-- shards.lua's contract (S1-S4). Needs group.lua and shards.lua.
--
-- Checks the group's config (creating the group if needed), notices a fresh start of
-- the store, and renews (or takes) the shard held by `holder`. Returns either
-- nil and the reply to give (-2 retry / -3 config), or
-- the group, shard, reservation, floor, and `top`: floor_of before this renewal, above
-- every reservation handed out on the shard before this call.
local function minter_lease(holder, lo, hi, hz, known_hz, lay, keep)
  local now = redis_now()
  local g = load_group()
  local created = not g
  if g then
    local option, value = config_mismatch(g, lo, hi, hz, lay)
    if option then return nil, {-3, option, value} end
    notice_restart(g, now, math.max(known_hz, hz))
  else
    g = create_group(now, math.max(known_hz, hz))
    g.lk = keep
    redis.call('HSET', K_GROUP, 'lk', num(keep))
  end
  record_config(g, lo, hi, hz, lay)
  local shard = tonumber(redis.call('HGET', K_SHARDS, holder) or '-1')
  local claim = false
  if shard < 0 then
    shard = pick_shard(g, '\2' .. holder, now)
    if shard < 0 then
      local nxt = redis.call('ZRANGE', K_FREE, 0, 0, 'WITHSCORES')
      if nxt[2] then return nil, {-2, tonumber(nxt[2]) - now} end
      return nil, {-2, -1}
    end
    take_shard(shard)
    redis.call('HSET', K_SHARDS, holder, shard)
    claim = true
  end
  local top = floor_of(g, tonumber(redis.call('HGET', K_SHARDS, 'hw:' .. shard) or '0'))
  local reservation, floor = lease(g, shard, now + g.hz, now, 0, claim)
  keep_alive(g, claim or created)
  return g, shard, reservation, floor, top, now
end
