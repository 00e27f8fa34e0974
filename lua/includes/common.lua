-- Shared helpers for every group script. Pasted in place of `-- @include common.lua`
-- when the scripts are embedded into the build, so each script stays self-contained.
--
-- Every group script takes the same seven KEYS:
--   KEYS[1] group   HASH  created, ver, hz (largest horizon), lo, hi, fresh, wf (wipe floor)
--   KEYS[2] members ZSET  nodeId -> expiry (Redis ms)
--   KEYS[3] nodes   HASH  nodeId -> life "\n" shard "\n" ttl "\n" NodeInfo JSON
--   KEYS[4] log     LIST  change entries, newest first, capped
--   KEYS[5] downs   HASH  deadId "\n" deadLife -> owner "\n" NodeInfo JSON, where owner is a
--                         life token, '' (orphan: the next beat adopts it) or "~" life "~" ms
--                         (reserved for a restarting life until ms); also "\1" nodeId ->
--                         life "\n" ms: a restarting life waits for that nodeId's old record
--   KEYS[6] free    ZSET  shard -> Redis ms when its quarantine ends
--   KEYS[7] shards  HASH  hw:<k> high-water ms, fl:<k> floor at claim, at:<k> claim time,
--                         fe:<k> fencing number, by:<k> last holder, st:<nodeId> its last shard
local K_GROUP, K_MEMBERS, K_NODES, K_LOG = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_DOWNS, K_FREE, K_SHARDS = KEYS[5], KEYS[6], KEYS[7]

local function num(x) return string.format('%.0f', x) end

local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function unpack_record(rec)
  local life, shard, ttl, json = string.match(rec, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
  return life, tonumber(shard), tonumber(ttl), json
end

-- Appends a change to the capped log and announces it. Returns the new version.
local function log_event(kind, reason, json, channel, cap)
  local ver = redis.call('HINCRBY', K_GROUP, 'ver', 1)
  local entry = '{"v":' .. ver .. ',"t":"' .. kind .. '"'
  if reason then entry = entry .. ',"r":"' .. reason .. '"' end
  entry = entry .. ',"n":' .. json .. '}'
  redis.call('LPUSH', K_LOG, entry)
  redis.call('LTRIM', K_LOG, 0, cap - 1)
  redis.call('PUBLISH', channel, entry)
  return ver
end

local function free_shard(shard, id, now, quarantine)
  redis.call('ZADD', K_FREE, num(now + quarantine), shard)
  redis.call('HSET', K_SHARDS, 'by:' .. shard, id, 'st:' .. id, shard)
end

-- Removes one member life: frees its shard into quarantine and logs its departure.
local function remove_member(id, rec, reason, now, quarantine, channel, cap)
  redis.call('ZREM', K_MEMBERS, id)
  redis.call('HDEL', K_NODES, id)
  local life, shard, _, json = unpack_record(rec)
  if shard >= 0 then free_shard(shard, id, now, quarantine) end
  log_event('-', reason, json, channel, cap)
  return life, json
end

-- Reaps the member lives `ids` (already known to be expired). Each gets a `node down`
-- report owned by `mylife` (or by the restarting life of the same nodeId that waits for
-- it); reports the dead lives still owned pass to `mylife` too, so a report is never
-- lost with its owner.
local function reap_ids(ids, now, mylife, quarantine, channel, cap)
  local lives, n = {}, 0
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', K_NODES, id)
    if rec then
      local life, json = remove_member(id, rec, 'timeout', now, quarantine, channel, cap)
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

-- Reaps up to `limit` members whose expiry has passed (Redis time decides).
local function reap(now, mylife, quarantine, channel, cap, limit)
  local dead = redis.call('ZRANGEBYSCORE', K_MEMBERS, '-inf', num(now), 'LIMIT', 0, limit)
  if #dead == 0 then return 0 end
  return reap_ids(dead, now, mylife, quarantine, channel, cap)
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

-- Live members' NodeInfo JSON, appended to `out`.
local function live_view(now, out)
  local ids = redis.call('ZRANGEBYSCORE', K_MEMBERS, '(' .. num(now), '+inf')
  local n = 0
  -- HMGET in chunks: unpack() of thousands of values overflows Lua's C stack.
  for from = 1, #ids, 1000 do
    local recs = redis.call('HMGET', K_NODES, unpack(ids, from, math.min(from + 999, #ids)))
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

-- Log entries after version `known`, oldest first, appended to `out`; on a gap (the
-- log was trimmed past `known`), the live view instead. Returns gap flag and count.
local function changes_since(known, ver, now, cap, out)
  if known == ver then return 0, 0 end
  if known < ver and ver - known <= cap then
    local entries = redis.call('LRANGE', K_LOG, 0, ver - known - 1)
    if #entries == ver - known then
      for i = #entries, 1, -1 do out[#out + 1] = entries[i] end
      return 0, #entries
    end
  end
  return 1, live_view(now, out)
end
