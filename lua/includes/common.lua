-- Shared helpers for every group script. Pasted in place of `-- @include common.lua`
-- when the scripts are embedded into the build, so each script stays self-contained.
--
-- Every group script takes the same seven KEYS:
--   KEYS[1] group   HASH  created, ver, lo, hi, fresh, and the store facts below
--   KEYS[2] members ZSET  nodeId -> expiry (Redis ms)
--   KEYS[3] nodes   HASH  nodeId -> life "\n" shard "\n" ttl "\n" NodeInfo JSON
--   KEYS[4] log     LIST  change entries, newest first, kept by age (at least `lk` ms)
--   KEYS[5] downs   HASH  deadId "\n" deadLife -> owner "\n" NodeInfo JSON, where owner is a
--                         life token, '' (orphan: the next beat adopts it) or "~" life "~" ms
--                         (reserved for a restarting life until ms); also "\1" nodeId ->
--                         life "\n" ms: a restarting life waits for that nodeId's old record
--   KEYS[6] free    ZSET  shard -> Redis ms when its quarantine ends
--   KEYS[7] shards  HASH  hw:<k> high-water ms, fl:<k> floor of the lease, fe:<k> fencing
--                         number, in:<k> store incarnation of the lease, by:<k> last
--                         holder, st:<nodeId> its last shard
--
-- Store facts in the group record, and the invariants they keep (see test/model/):
--   hz   B, the group's bound: every reservation written is at most Redis TIME + B
--   lay  the Snowflake layout and epoch of the group's generators
--   rid  run_id of the server that last ran a writing script for the group
--   inc  store incarnation: grows at every restart or failover noticed
--   fs   Redis ms of the latest fresh start (group created, restart or failover noticed)
--   wf   wipe floor: every lease starts above it (fs + the largest B anyone knew)
--   mt   largest member ttl: after a restart, members get that long to beat again
--   lk   how long change entries are kept (ms)
-- A lease starts above max(hw, wf, fs + B); every reservation is min(proposed, now + B).
-- So whatever a holder of an earlier incarnation may mint (at most its write time + B)
-- lies below the floor of every lease granted after a fresh start.
local K_GROUP, K_MEMBERS, K_NODES, K_LOG = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DOWNS, K_FREE, K_SHARDS = KEYS[5], KEYS[6], KEYS[7]

local function num(x) return string.format('%.0f', x) end

local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The server's run_id: it changes at every restart and differs between a master and
-- its replicas, so a restart from older data or a failover shows as a change of it.
local function run_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
end

local function unpack_record(rec)
  local life, shard, ttl, json = string.match(rec, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
  return life, tonumber(shard), tonumber(ttl), json
end

-- The group record as a table, or nil when it is missing.
local function load_group()
  local r = redis.call('HMGET', K_GROUP, 'created', 'ver', 'hz', 'lo', 'hi', 'lay', 'rid', 'inc', 'fs', 'wf', 'mt', 'lk')
  if not r[1] then return nil end
  return {
    created = r[1], ver = tonumber(r[2] or '0'), hz = tonumber(r[3]), lo = tonumber(r[4]), hi = tonumber(r[5]),
    lay = r[6], rid = r[7], inc = tonumber(r[8] or '0'), fs = tonumber(r[9] or r[1]), wf = tonumber(r[10] or '0'),
    mt = tonumber(r[11] or '0'), lk = tonumber(r[12] or '0'),
  }
end

-- A fresh start of the store as a whole (a new group, a wipe): nothing can be known of
-- earlier holders but that they reserved at most `known` ahead of Redis TIME.
local function create_group(now, known)
  local g = { created = num(now), ver = 0, rid = run_id(), inc = 1, fs = now, wf = now + known, mt = 0, lk = 0 }
  redis.call('HSET', K_GROUP, 'created', g.created, 'ver', 0, 'rid', g.rid, 'inc', 1, 'fs', num(now), 'wf', num(g.wf), 'mt', 0, 'lk', 0)
  return g
end

-- A restart (from a snapshot or an AOF that may lack the latest writes) or a failover
-- to a replica that may lag: the record survived, but the latest claims and renewals
-- may be gone. Every lease granted before is re-based above now + B at its next use.
local function notice_restart(g, now, known)
  local rid = run_id()
  if g.rid == rid then return false end
  g.rid = rid
  g.inc = g.inc + 1
  g.fs = now
  g.wf = math.max(g.wf, now + math.max(g.hz or 0, known))
  redis.call('HSET', K_GROUP, 'rid', rid, 'inc', g.inc, 'fs', num(now), 'wf', num(g.wf))
  return true
end

-- After a restart, a member whose record expired while the store was away gets `mt`
-- more ms to beat before anyone may reap it: a restart is not a mass death.
local function in_grace(g, score, now)
  return score <= g.fs and now < g.fs + g.mt
end

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

-- Appends a change to the log (entries older than `g.lk` ms are dropped) and announces
-- it. Returns the new version.
local function log_event(g, now, kind, reason, json, channel)
  local ver = redis.call('HINCRBY', K_GROUP, 'ver', 1)
  g.ver = ver
  local entry = '{"v":' .. ver .. ',"i":' .. g.inc .. ',"at":' .. num(now) .. ',"t":"' .. kind .. '"'
  if reason then entry = entry .. ',"r":"' .. reason .. '"' end
  entry = entry .. ',"n":' .. json .. '}'
  redis.call('LPUSH', K_LOG, entry)
  for _ = 1, 16 do
    local last = redis.call('LINDEX', K_LOG, -1)
    local at = last and tonumber(string.match(last, '"at":(%d+)'))
    if not at or at >= now - g.lk then break end
    redis.call('RPOP', K_LOG)
  end
  redis.call('PUBLISH', channel, entry)
  return ver
end

local function free_shard(shard, id, now, quarantine)
  redis.call('ZADD', K_FREE, num(now + quarantine), shard)
  redis.call('HSET', K_SHARDS, 'by:' .. shard, id, 'st:' .. id, shard)
end

-- Removes one member life: frees its shard into quarantine and logs its departure.
local function remove_member(g, id, rec, reason, now, quarantine, channel)
  redis.call('ZREM', K_MEMBERS, id)
  redis.call('HDEL', K_NODES, id)
  local life, shard, _, json = unpack_record(rec)
  if shard >= 0 then free_shard(shard, id, now, quarantine) end
  log_event(g, now, '-', reason, json, channel)
  return life, json
end

-- Reaps the member lives `ids` (already known to be expired). Each gets a `node down`
-- report owned by `mylife` (or by the restarting life of the same nodeId that waits for
-- it); reports the dead lives still owned pass to `mylife` too, so a report is never
-- lost with its owner.
local function reap_ids(g, ids, now, mylife, quarantine, channel)
  local lives, n = {}, 0
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', K_NODES, id)
    if rec then
      local life, json = remove_member(g, id, rec, 'timeout', now, quarantine, channel)
      lives[life] = true
      n = n + 1
      local owner = mylife
      local succ = redis.call('HGET', K_DOWNS, '\1' .. id)
      if succ then
        local slife, until_ms = string.match(succ, '^([^\n]*)\n(.*)$')
        if slife ~= mylife and tonumber(until_ms) >= now then owner = '~' .. slife .. '~' .. until_ms end
        redis.call('HDEL', K_DOWNS, '\1' .. id)
      end
      redis.call('HSET', K_DOWNS, id .. '\n' .. life, owner .. '\n' .. json)
    else
      redis.call('ZREM', K_MEMBERS, id)
    end
  end
  if n == 0 then return 0 end
  local all = redis.call('HGETALL', K_DOWNS)
  for i = 1, #all, 2 do
    local owner, json = string.match(all[i + 1], '^([^\n]*)\n(.*)$')
    if lives[owner] then redis.call('HSET', K_DOWNS, all[i], mylife .. '\n' .. json) end
  end
  return n
end

-- Reaps up to `limit` members whose expiry has passed (Redis time decides), sparing
-- those in their grace period after a restart.
local function reap(g, now, mylife, quarantine, channel, limit)
  local from = '-inf'
  if now < g.fs + g.mt then from = '(' .. num(g.fs) end
  local dead = redis.call('ZRANGEBYSCORE', K_MEMBERS, from, num(now), 'LIMIT', 0, limit)
  if #dead == 0 then return 0 end
  return reap_ids(g, dead, now, mylife, quarantine, channel)
end

-- Drops the reports named in ARGV[first..first+n-1] that `life` owns (they were
-- handled), and tells every member, so that none handles one again after a restart
-- of the store brought it back.
local function take_acks(g, life, now, channel, first, n)
  for i = first, first + n - 1 do
    local v = redis.call('HGET', K_DOWNS, ARGV[i])
    if v and string.sub(v, 1, #life + 1) == life .. '\n' then
      redis.call('HDEL', K_DOWNS, ARGV[i])
      log_event(g, now, 'x', nil, cjson.encode(ARGV[i]), channel)
    end
  end
end

-- Reports owned by `mylife`, plus those it adopts: orphans (their owner left) and
-- reports reserved for a restarting life that did not come in time. Drops stale
-- restart markers.
local function owned_reports(mylife, now, out)
  if redis.call('HLEN', K_DOWNS) == 0 then return 0 end
  local all = redis.call('HGETALL', K_DOWNS)
  local n = 0
  for i = 1, #all, 2 do
    local field, value = all[i], all[i + 1]
    local owner, json = string.match(value, '^([^\n]*)\n(.*)$')
    if string.sub(field, 1, 1) == '\1' then
      if tonumber(json) < now then redis.call('HDEL', K_DOWNS, field) end
    else
      local adopt = owner == ''
      if string.sub(owner, 1, 1) == '~' then
        local slife, until_ms = string.match(owner, '^~(.*)~(%d+)$')
        adopt = slife == mylife or tonumber(until_ms) < now
      end
      if adopt then
        redis.call('HSET', K_DOWNS, field, mylife .. '\n' .. json)
        owner = mylife
      end
      if owner == mylife then
        out[#out + 1] = field
        out[#out + 1] = json
        n = n + 1
      end
    end
  end
  return n
end

-- Live members' NodeInfo JSON, appended to `out` (members in their grace period count).
local function live_view(g, now, out)
  local ids = redis.call('ZRANGEBYSCORE', K_MEMBERS, '(' .. num(now), '+inf')
  if g and now < g.fs + g.mt then
    local graced = redis.call('ZRANGEBYSCORE', K_MEMBERS, '-inf', num(math.min(now, g.fs)))
    for i = 1, #graced do ids[#ids + 1] = graced[i] end
  end
  local n = 0
  -- HMGET in chunks: unpack() of thousands of values overflows Lua's C stack.
  for from_i = 1, #ids, 1000 do
    local recs = redis.call('HMGET', K_NODES, unpack(ids, from_i, math.min(from_i + 999, #ids)))
    for i = 1, #recs do
      if recs[i] then
        local _, _, _, json = unpack_record(recs[i])
        out[#out + 1] = json
        n = n + 1
      end
    end
  end
  return n
end

-- Log entries after version `known` of incarnation `known_inc`, oldest first, appended
-- to `out`; when the log no longer reaches back that far, or the store restarted since
-- (versions of lost writes may be reused), the live view instead. Returns gap flag and count.
local function changes_since(g, known_inc, known, now, out)
  if known_inc == g.inc then
    if known == g.ver then return 0, 0 end
    if known < g.ver then
      local entries = redis.call('LRANGE', K_LOG, 0, g.ver - known - 1)
      if #entries == g.ver - known then
        for i = #entries, 1, -1 do out[#out + 1] = entries[i] end
        return 0, #entries
      end
    end
  end
  return 1, live_view(g, now, out)
end
