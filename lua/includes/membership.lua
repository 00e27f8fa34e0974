-- Members, reaping and `node down` reports. Contract:
--   M1 a member is alive while its expiry (members ZSET) is after Redis TIME; host
--      clocks never decide;
--   M2 every expired life is reaped exactly once, by a script call of a live member (or
--      a joiner), which frees its shard into quarantine and logs its departure;
--   M3 each reaped life gets one `node down` report with exactly one owner life; a
--      report whose owner dies or leaves before acknowledging it passes on (to the
--      reaper of the owner, or to the next member that beats), so it is never lost
--      while members remain, and it leaves the store only when its owner acknowledges it;
--   M4 after a restart of the store, members get the group's largest ttl to beat again
--      before anyone may reap them.
-- Needs group.lua and shards.lua.

local function unpack_record(rec)
  local life, shard, ttl, json = string.match(rec, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
  return life, tonumber(shard), tonumber(ttl), json
end

-- After a restart, a member whose record expired while the store was away gets `mt`
-- more ms to beat before anyone may reap it: a restart is not a mass death.
local function in_grace(g, score, now)
  return score <= g.fs and now < g.fs + g.mt
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

-- Ids of the live members (those in their grace period count), appended to `out`.
local function live_ids(g, now, out)
  local ids = redis.call('ZRANGEBYSCORE', K_MEMBERS, '(' .. num(now), '+inf')
  for i = 1, #ids do out[#out + 1] = ids[i] end
  if g and now < g.fs + g.mt then
    local graced = redis.call('ZRANGEBYSCORE', K_MEMBERS, '-inf', num(math.min(now, g.fs)))
    for i = 1, #graced do out[#out + 1] = graced[i] end
  end
  return out
end

-- Live members' NodeInfo JSON, appended to `out` (members in their grace period count).
local function live_view(g, now, out)
  local ids = live_ids(g, now, {})
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
