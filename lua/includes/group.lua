-- The group record and its change log: what every group script includes first. Each
-- `-- @include name.lua` line is replaced by the file when the scripts are embedded into
-- the build, so each script stays self-contained and runs in one round trip. Scripts
-- compose three parts: this one, shards.lua (leases) and membership.lua (members,
-- reaping, `node down` reports, the view).
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
--   ex   idle expiry (ms, 0: never): the group's keys expire after that long without a
--        writing script call (seqs excepted, see keep_alive)
--   ra   '1' once `muster group set-range` set lo..hi: joiners' own ranges are not compared
--   lf   with ra: shards lo..lf were never used (a range widened downward), handed out
--        from lf down
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
  local info = redis.call('INFO', 'server')
  -- A plain find: a pattern scan of the whole text costs more on every heartbeat.
  local at = string.find(info, 'run_id:', 1, true)
  return string.sub(info, at + 7, at + 46)
end

-- The group record as a table, or nil when it is missing.
local function load_group()
  local r = redis.call('HMGET', K_GROUP, 'created', 'ver', 'hz', 'lo', 'hi', 'lay', 'rid', 'inc', 'fs', 'wf', 'mt', 'lk', 'ex', 'ra', 'lf')
  if not r[1] then return nil end
  return {
    created = r[1], ver = tonumber(r[2] or '0'), hz = tonumber(r[3]), lo = tonumber(r[4]), hi = tonumber(r[5]),
    lay = r[6], rid = r[7], inc = tonumber(r[8] or '0'), fs = tonumber(r[9] or r[1]), wf = tonumber(r[10] or '0'),
    mt = tonumber(r[11] or '0'), lk = tonumber(r[12] or '0'), ex = tonumber(r[13]), ra = r[14] == '1',
    lf = tonumber(r[15]),
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

-- Idle expiry. Every script that writes to the group keeps its seven keys alive for
-- `ex` ms more (sparing a PTTL-and-PEXPIRE round on most heartbeats: they renew once
-- the record has less than ex - min(ex/10, 1h) left). `force` renews at once; every
-- script that may create one of the keys forces, so no key outlives the others.
-- Why an expired group repeats no ID: its last write was at least 0.9 ex ago in Redis
-- time, every reservation was at most that write + B, and ex >= 2B (checked when the
-- option is read); a group created afresh starts every lease above now + B. The named
-- sequences' counters (KEYS[8] of sequence-8.lua) never expire: only they know which
-- numbers were handed out.
local function keep_alive(g, force)
  local ex = g.ex or 0
  -- Members without shards do not check B against the group's: keep ex >= 2B anyway.
  if ex > 0 then ex = math.max(ex, 2 * (g.hz or 0)) end
  if ex <= 0 then
    if force and redis.call('PTTL', K_GROUP) >= 0 then
      for i = 1, 7 do redis.call('PERSIST', KEYS[i]) end
    end
    return
  end
  if not force and redis.call('PTTL', K_GROUP) > ex - math.min(ex / 10, 3600000) then return end
  for i = 1, 7 do redis.call('PEXPIRE', KEYS[i], num(ex)) end
end

-- A joiner's idle expiry (ms, 0: never) merged into the group's: the longest wins, and
-- never wins over any length.
local function merge_expiry(g, ex)
  local merged = ex
  if g.ex then
    if g.ex == 0 or ex == 0 then merged = 0 else merged = math.max(g.ex, ex) end
  end
  if merged ~= g.ex then
    g.ex = merged
    redis.call('HSET', K_GROUP, 'ex', num(merged))
  end
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
  -- A shard channel: on a Redis Cluster it stays on the shard that owns the group's slot.
  redis.call('SPUBLISH', channel, entry)
  return ver
end

-- The first shard holder records the group's shard range, B and layout; later ones
-- must match them (config_mismatch).
local function record_config(g, lo, hi, hz, lay)
  if not g.lo then
    g.lo, g.hi = lo, hi
    redis.call('HSET', K_GROUP, 'lo', lo, 'hi', hi, 'fresh', lo)
  end
  if not g.hz then
    g.hz = hz
    redis.call('HSET', K_GROUP, 'hz', num(hz))
  end
  if not g.lay then
    g.lay = lay
    redis.call('HSET', K_GROUP, 'lay', lay)
  end
end

-- The option on which a shard holder's config differs from the group's, and the
-- group's value; nil when it matches (or the group has not recorded one yet).
local function config_mismatch(g, lo, hi, hz, lay)
  if g.lo and not g.ra and (g.lo ~= lo or g.hi ~= hi) then return 'shards', g.lo .. '..' .. g.hi end
  if g.hz and g.hz ~= hz then return 'horizon', num(g.hz) end
  if g.lay and g.lay ~= lay then return 'snowflake', g.lay end
  return nil
end
