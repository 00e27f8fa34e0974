-- Reads the group's shards without changing anything: for every shard ever claimed, its
-- holder (if a member record names it), fence, floor, reservation and, when free, the
-- Redis ms its quarantine ends. Shards never claimed are free and not listed.
--
-- KEYS: the seven group keys (see includes/group.lua)
--
-- Reply: {now, lo, hi, n, (shard, holderId, holderLife, holderExpiry, fence, floor,
--         reserved, freeAt) * n}, sorted by shard; lo = hi = -1 for a group without
--         shards; '' / -1 where a field does not apply.
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local now = redis_now()
local g = load_group()
if not g or not g.lo then return {now, -1, -1, 0} end

local info, order = {}, {}
local function at(shard)
  local s = info[shard]
  if not s then
    s = { id = '', life = '', expiry = -1, fe = -1, fl = -1, hw = -1, free = -1 }
    info[shard] = s
    order[#order + 1] = shard
  end
  return s
end

local recs = redis.call('HGETALL', K_NODES)
for i = 1, #recs, 2 do
  local life, shard = unpack_record(recs[i + 1])
  if shard and shard >= 0 then
    local s = at(shard)
    s.id, s.life = recs[i], life
    s.expiry = tonumber(redis.call('ZSCORE', K_MEMBERS, recs[i]) or '-1')
  end
end
local free = redis.call('ZRANGE', K_FREE, 0, -1, 'WITHSCORES')
for i = 1, #free, 2 do at(tonumber(free[i])).free = tonumber(free[i + 1]) end
local facts = redis.call('HGETALL', K_SHARDS)
for i = 1, #facts, 2 do
  local kind, shard = string.match(facts[i], '^(%a%a):(%d+)$')
  if kind == 'fe' or kind == 'fl' or kind == 'hw' then at(tonumber(shard))[kind] = tonumber(facts[i + 1]) end
end

table.sort(order)
local reply = {now, g.lo, g.hi, #order}
for _, shard in ipairs(order) do
  local s = info[shard]
  local row = {shard, s.id, s.life, num(s.expiry), num(s.fe), num(s.fl), num(s.hw), num(s.free)}
  for j = 1, #row do reply[#reply + 1] = row[j] end
end
return reply
