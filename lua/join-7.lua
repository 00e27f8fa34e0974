-- Joins a member life to a group, atomically: creates the group record if it is missing
-- (a new group, or a Redis that lost its data), rejects a live duplicate nodeId without
-- writing anything, reaps expired members (the joiner owns their `node down` reports,
-- including one for its own previous life), claims a shard and writes the member.
--
-- KEYS: the seven group keys (see includes/common.lua)
-- ARGV[1]  nodeId
-- ARGV[2]  life token (unique per join)
-- ARGV[3]  meta, as JSON text
-- ARGV[4]  ttl: ms without a heartbeat before the member counts as dead
-- ARGV[5]  lowest shard, or -1 for no shard
-- ARGV[6]  highest shard
-- ARGV[7]  this member's horizon: clock skew allowance + ttl (ms)
-- ARGV[8]  largest group horizon this process has seen before (ms), 0 if none
-- ARGV[9]  quarantine (ms) for the shards it frees while reaping
-- ARGV[10] proposed reservation: the joiner's clock + ttl (ms since 1970)
-- ARGV[11] Pub/Sub channel for change entries
-- ARGV[12] log capacity
-- ARGV[13] reap limit per call
-- ARGV[14] '1' to include the live view in the reply (a rejoin compares it with the old one)
--
-- Reply, on success:
--   {1, now, created, ver, hz, shard (-1 for none), floor, reservation, fence,
--    nReports, reportId, json, ..., nView, json, ...}   (nView is 0 unless ARGV[14] is '1')
-- {-1, msUntilExpiry, expiry}   the nodeId is held by an unexpired life; nothing of it is
--                               changed (a restart marker for this life is left, see common.lua)
-- {-2, msUntilAShardIsFree}     (-1 when none is quarantined) every shard taken; only expired
--                               members were reaped (their reports left to the next beat)
-- {-3, lo, hi}                  the group uses another shard range; nothing written
-- @include common.lua

local id, life, meta = ARGV[1], ARGV[2], ARGV[3]
local ttl, lo, hi = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local hz, known_hz, quarantine = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local proposed, channel = tonumber(ARGV[10]), ARGV[11]
local cap, limit = tonumber(ARGV[12]), tonumber(ARGV[13])
local with_view = ARGV[14] == '1'

local now = redis_now()
local g = redis.call('HMGET', K_GROUP, 'created', 'hz', 'lo', 'hi', 'wf')
local created, group_hz, wf

if not g[1] then
  -- A group record that is missing: the group is new, or Redis lost its data. Either way
  -- every shard's first holder starts above anything an earlier holder may have minted.
  created = now
  group_hz = math.max(hz, known_hz)
  wf = now + group_hz
  redis.call('HSET', K_GROUP, 'created', num(now), 'ver', 0, 'hz', num(group_hz), 'wf', num(wf))
  if lo >= 0 then redis.call('HSET', K_GROUP, 'lo', lo, 'hi', hi, 'fresh', lo) end
else
  created = tonumber(g[1])
  group_hz = tonumber(g[2])
  wf = tonumber(g[5])
  if lo >= 0 and g[3] and (tonumber(g[3]) ~= lo or tonumber(g[4]) ~= hi) then
    return {-3, tonumber(g[3]), tonumber(g[4])}
  end
end

local function success(shard, floor, reservation, fence)
  local reply = {1, now, created, tonumber(redis.call('HGET', K_GROUP, 'ver')), group_hz, shard, floor, reservation, fence}
  local reports = {}
  local nrep = owned_reports(life, now, reports)
  reply[#reply + 1] = nrep
  for i = 1, #reports do reply[#reply + 1] = reports[i] end
  local view = {}
  local nview = 0
  if with_view then nview = live_view(now, view) end
  reply[#reply + 1] = nview
  for i = 1, #view do reply[#reply + 1] = view[i] end
  return reply
end

-- An earlier attempt of this very join landed but its reply was lost (a timeout, a
-- reconnect that replayed it): adopt that record instead of reporting a duplicate.
local existing = redis.call('HGET', K_NODES, id)
if existing and string.sub(existing, 1, #life + 1) == life .. '\n' then
  local _, shard = unpack_record(existing)
  redis.call('ZADD', K_MEMBERS, num(now + ttl), id)
  if shard < 0 then return success(-1, 0, 0, 0) end
  local s = redis.call('HMGET', K_SHARDS, 'hw:' .. shard, 'fl:' .. shard, 'at:' .. shard, 'fe:' .. shard)
  local hw, fl, at = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
  local reservation = math.min(math.max(proposed, fl + 1 + ttl), math.max(now, fl + (now - at)) + hz)
  if reservation > hw then redis.call('HSET', K_SHARDS, 'hw:' .. shard, num(reservation)) end
  return success(shard, fl, reservation, tonumber(s[4]))
end

local score = redis.call('ZSCORE', K_MEMBERS, id)
if score and tonumber(score) > now then
  -- Not written to the live record: a marker that, should this record expire while the
  -- joiner waits, reserves its `node down` report for the joiner (its next life).
  redis.call('HSET', K_DOWNS, '\1' .. id, life .. '\n' .. num(tonumber(score) + ttl))
  return {-1, tonumber(score) - now, tonumber(score)}
end

-- Pick a shard before writing anything: the nodeId's previous one if it is free,
-- then one never used, then the one free the longest.
local shard, from_free = -1, false
if lo >= 0 then
  if g[1] and not g[3] then
    redis.call('HSET', K_GROUP, 'lo', lo, 'hi', hi, 'fresh', lo)
  end
  local st = redis.call('HGET', K_SHARDS, 'st:' .. id)
  if st then
    local avail = redis.call('ZSCORE', K_FREE, st)
    if avail and tonumber(avail) <= now then shard, from_free = tonumber(st), true end
  end
  if shard < 0 then
    local fresh = tonumber(redis.call('HGET', K_GROUP, 'fresh'))
    if fresh <= hi then
      shard = fresh
      redis.call('HSET', K_GROUP, 'fresh', fresh + 1)
    end
  end
  if shard < 0 then
    local f = redis.call('ZRANGEBYSCORE', K_FREE, '-inf', num(now), 'LIMIT', 0, 1)
    if f[1] then shard, from_free = tonumber(f[1]), true end
  end
  if shard < 0 then
    -- Reap anyway, so that dead holders free their shards for the wait that follows.
    -- The joiner is not a member: their reports go to whichever member beats next.
    reap(now, '', quarantine, channel, cap, limit)
    local nxt = redis.call('ZRANGE', K_FREE, 0, 0, 'WITHSCORES')
    if nxt[2] then return {-2, tonumber(nxt[2]) - now} end
    return {-2, -1}
  end
end

-- Writes start here.
if shard >= 0 and hz > group_hz then
  group_hz = hz
  redis.call('HSET', K_GROUP, 'hz', num(hz))
end
if known_hz > 0 and created + known_hz > wf then
  wf = created + known_hz
  redis.call('HSET', K_GROUP, 'wf', num(wf))
end

if score then reap_ids({id}, now, life, quarantine, channel, cap) end
reap(now, life, quarantine, channel, cap, limit)

local floor, reservation, fence = 0, 0, 0
if shard >= 0 then
  if from_free then
    redis.call('ZREM', K_FREE, shard)
    local prev = redis.call('HGET', K_SHARDS, 'by:' .. shard)
    if prev then
      redis.call('HDEL', K_SHARDS, 'by:' .. shard)
      if redis.call('HGET', K_SHARDS, 'st:' .. prev) == tostring(shard) then
        redis.call('HDEL', K_SHARDS, 'st:' .. prev)
      end
    end
  end
  local s = redis.call('HMGET', K_SHARDS, 'hw:' .. shard, 'fe:' .. shard)
  floor = math.max(tonumber(s[1] or '0'), wf)
  fence = math.max(tonumber(s[2] or '0') + 1, now * 1000)
  reservation = math.min(math.max(proposed, floor + 1 + ttl), math.max(now, floor) + hz)
  redis.call('HSET', K_SHARDS, 'hw:' .. shard, num(reservation), 'fl:' .. shard, num(floor),
    'at:' .. shard, num(now), 'fe:' .. shard, num(fence))
end

local json = '{"id":' .. cjson.encode(id) .. ',"meta":' .. meta .. ',"joinedAt":' .. num(now)
if shard >= 0 then json = json .. ',"shard":' .. shard end
json = json .. '}'
redis.call('HDEL', K_DOWNS, '\1' .. id)
redis.call('ZADD', K_MEMBERS, num(now + ttl), id)
redis.call('HSET', K_NODES, id, life .. '\n' .. shard .. '\n' .. ttl .. '\n' .. json)
log_event('+', nil, json, channel, cap)

return success(shard, floor, reservation, fence)
