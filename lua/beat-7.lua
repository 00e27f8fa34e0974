-- One heartbeat of a member life: renews its membership and its shard reservation,
-- reaps expired members, takes acknowledgements of `node down` reports it emitted,
-- and returns its pending reports and the group changes it has not seen yet.
--
-- KEYS: the seven group keys (see includes/common.lua)
-- ARGV[1]  nodeId
-- ARGV[2]  life token
-- ARGV[3]  ttl (ms)
-- ARGV[4]  `created` of the group record this life joined (detects a wiped Redis)
-- ARGV[5]  last change version this member has seen
-- ARGV[6]  proposed reservation: the holder's clock + ttl (ms since 1970), ignored without shard
-- ARGV[7]  this member's horizon: clock skew allowance + ttl (ms)
-- ARGV[8]  quarantine (ms) for shards freed while reaping
-- ARGV[9]  Pub/Sub channel
-- ARGV[10] log capacity
-- ARGV[11] reap limit per call
-- ARGV[12] number of acknowledged report ids that follow
-- ARGV[13..] acknowledged report ids
--
-- Reply:
--   {1, now, reservation (-1 without shard), ver, hz, gap, nChanges, change..., nReports, reportId, json, ...}
--     where gap = 1 means the changes are the whole live view (the log no longer reached back)
--   {-4, 'gone' | 'expired'}  this life is not (or no longer) a member; nothing written
--   {-5}                      the group record is gone or new (Redis lost its data); nothing written
-- @include common.lua

local id, life, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local known = tonumber(ARGV[5])
local proposed, hz, quarantine = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local channel, cap, limit = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])

local now = redis_now()
local g = redis.call('HMGET', K_GROUP, 'created', 'hz')
if g[1] ~= ARGV[4] then return {-5} end

local rec = redis.call('HGET', K_NODES, id)
if not rec then return {-4, 'gone'} end
local rlife, shard = unpack_record(rec)
if rlife ~= life then return {-4, 'gone'} end
local score = tonumber(redis.call('ZSCORE', K_MEMBERS, id) or '0')
if score <= now then return {-4, 'expired'} end

redis.call('ZADD', K_MEMBERS, 'XX', num(now + ttl), id)

local reservation = -1
if shard >= 0 then
  local s = redis.call('HMGET', K_SHARDS, 'hw:' .. shard, 'fl:' .. shard, 'at:' .. shard)
  local hw, fl, at = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
  -- What a holder may reserve grows with the time it has held the shard, so a holder
  -- that started ahead of the clock (above a floor) keeps going at full rate.
  reservation = math.min(proposed, math.max(now, fl + (now - at)) + hz)
  if reservation > hw then redis.call('HSET', K_SHARDS, 'hw:' .. shard, num(reservation)) end
end

reap(now, life, quarantine, channel, cap, limit)

local nacks = tonumber(ARGV[12])
for i = 13, 12 + nacks do
  local v = redis.call('HGET', K_DOWNS, ARGV[i])
  if v and string.sub(v, 1, #life + 1) == life .. '\n' then redis.call('HDEL', K_DOWNS, ARGV[i]) end
end

local ver = tonumber(redis.call('HGET', K_GROUP, 'ver'))
local changes = {}
local gap, nchanges = changes_since(known, ver, now, cap, changes)
local reply = {1, now, reservation, ver, tonumber(g[2]), gap, nchanges}
for i = 1, #changes do reply[#reply + 1] = changes[i] end
local reports = {}
reply[#reply + 1] = owned_reports(life, now, reports)
for i = 1, #reports do reply[#reply + 1] = reports[i] end
return reply
