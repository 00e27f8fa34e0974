-- Joins a member life to a group, atomically: creates the group record if it is missing
-- (a new group, or a Redis that lost its data), notices a restart or failover, refuses a
-- config that differs from the group's and a live duplicate nodeId without writing
-- anything of the member, reaps expired members (the joiner owns their `node down`
-- reports, including one for its own previous life), claims a shard and writes the member.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1]  nodeId
-- ARGV[2]  life token (unique per join)
-- ARGV[3]  meta, as JSON text
-- ARGV[4]  ttl: ms without a heartbeat before the member counts as dead
-- ARGV[5]  lowest shard, or -1 for no shard
-- ARGV[6]  highest shard
-- ARGV[7]  B, the group bound this member uses: how far ahead of Redis TIME a reservation may reach (ms)
-- ARGV[8]  largest B this process has seen the group use before (ms), 0 if none
-- ARGV[9]  quarantine (ms) for the shards it frees while reaping
-- ARGV[10] proposed reservation: the joiner's clock + ttl (ms since 1970)
-- ARGV[11] Pub/Sub channel for change entries
-- ARGV[12] how long change entries must be kept (ms)
-- ARGV[13] reap limit per call
-- ARGV[14] '1' to include the live view in the reply (a rejoin compares it with the old one)
-- ARGV[15] the Snowflake layout and epoch, as text ('' without shards)
-- ARGV[16] `created` of the group record this process joined before ('' if none): when
--          the record is another one, the store lost the group and named sequences
--          must not start again from 1 (wp, see sequence-8.lua)
-- ARGV[17] idle expiry (ms, 0: never): merged into the group's (see keep_alive)
--
-- Reply, on success:
--   {1, now, created, ver, inc, B, shard (-1 for none), floor, reservation, fence,
--    nReports, reportId, json, ..., nView, json, ...}   (nView is 0 unless ARGV[14] is '1')
-- {-1, msUntilExpiry, expiry}   the nodeId is held by an unexpired life; nothing of it is
--                               changed (a restart marker for this life is left, see includes/membership.lua)
-- {-2, msUntilAShardIsFree}     (-1 when none is quarantined) every shard taken; only expired
--                               members were reaped (their reports left to the next beat)
-- {-3, option, groupValue}      the group uses another shard range, B or layout; nothing written
-- {-6, policy}                  Redis may evict keys (maxmemory-policy); nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local id, life, meta = ARGV[1], ARGV[2], ARGV[3]
local ttl, lo, hi = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local hz, known_hz, quarantine = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local proposed, channel = tonumber(ARGV[10]), ARGV[11]
local keep, limit = tonumber(ARGV[12]), tonumber(ARGV[13])
local with_view, lay = ARGV[14] == '1', ARGV[15]

-- Evicted floors would let IDs repeat: refuse a store that may evict keys.
local mem = redis.call('INFO', 'memory')
local maxmemory = tonumber(string.match(mem, 'maxmemory:(%d+)') or '0')
local policy = string.match(mem, 'maxmemory_policy:([%w%-]+)') or 'noeviction'
if maxmemory > 0 and policy ~= 'noeviction' then return {-6, policy} end

local now = redis_now()
local g = load_group()
if g and lo >= 0 then
  local option, value = config_mismatch(g, lo, hi, hz, lay)
  if option then return {-3, option, value} end
end
if lo >= 0 then known_hz = math.max(known_hz, hz) end
if not g then
  g = create_group(now, known_hz)
else
  notice_restart(g, now, known_hz)
end
if ARGV[16] ~= '' and ARGV[16] ~= g.created then redis.call('HSET', K_GROUP, 'wp', '1') end
merge_expiry(g, tonumber(ARGV[17]))

local function success(shard, floor, reservation, fence)
  keep_alive(g, true)
  local reply = {1, now, g.created, g.ver, g.inc, g.hz or 0, shard, floor, reservation, fence}
  local reports = {}
  local nrep = owned_reports(life, now, reports)
  reply[#reply + 1] = nrep
  for i = 1, #reports do reply[#reply + 1] = reports[i] end
  local view = {}
  local nview = 0
  if with_view then nview = live_view(g, now, view) end
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
  local r, fl, fe = lease(g, shard, proposed, now, ttl, false)
  return success(shard, fl, r, fe)
end

local score = redis.call('ZSCORE', K_MEMBERS, id)
if score then
  local expiry = tonumber(score)
  if in_grace(g, expiry, now) then expiry = g.fs + g.mt end
  if expiry > now then
    -- Not written to the live record: a marker that, should this record expire while the
    -- joiner waits, reserves its `node down` report for the joiner (its next life).
    redis.call('HSET', K_DOWNS, '\1' .. id, life .. '\n' .. num(expiry + ttl))
    keep_alive(g, true)
    return {-1, expiry - now, expiry}
  end
end

-- Pick a shard before writing anything.
local shard = -1
if lo >= 0 then
  record_config(g, lo, hi, hz, lay)
  shard = pick_shard(g, id, now)
  if shard < 0 then
    -- Reap anyway, so that dead holders free their shards for the wait that follows.
    -- The joiner is not a member: their reports go to whichever member beats next.
    reap(g, now, '', quarantine, channel, limit)
    keep_alive(g, true)
    local nxt = redis.call('ZRANGE', K_FREE, 0, 0, 'WITHSCORES')
    if nxt[2] then return {-2, tonumber(nxt[2]) - now} end
    return {-2, -1}
  end
end

-- Writes of the member start here.
if known_hz > 0 and g.fs + known_hz > g.wf then
  g.wf = g.fs + known_hz
  redis.call('HSET', K_GROUP, 'wf', num(g.wf))
end
if ttl > g.mt then
  g.mt = ttl
  redis.call('HSET', K_GROUP, 'mt', num(ttl))
end
if keep > g.lk then
  g.lk = keep
  redis.call('HSET', K_GROUP, 'lk', num(keep))
end

if score then reap_ids(g, {id}, now, life, quarantine, channel) end
reap(g, now, life, quarantine, channel, limit)

local floor, reservation, fence = 0, 0, 0
if shard >= 0 then
  take_shard(shard)
  reservation, floor, fence = lease(g, shard, proposed, now, ttl, true)
end

local json = '{"id":' .. cjson.encode(id) .. ',"life":' .. cjson.encode(life) .. ',"meta":' .. meta .. ',"joinedAt":' .. num(now)
if shard >= 0 then json = json .. ',"shard":' .. shard end
json = json .. '}'
redis.call('HDEL', K_DOWNS, '\1' .. id)
redis.call('ZADD', K_MEMBERS, num(now + ttl), id)
redis.call('HSET', K_NODES, id, life .. '\n' .. shard .. '\n' .. ttl .. '\n' .. json)
log_event(g, now, '+', nil, json, channel)

return success(shard, floor, reservation, fence)
