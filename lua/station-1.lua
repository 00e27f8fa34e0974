-- A minting station (Redis Cluster): mints runs of Snowflake IDs on the master that owns
-- its key's slot, under a shard and reservation the group granted (lua/stationclaim-7.lua).
--
-- Why no ID repeats:
--   * Per shard the station hands out (unit, sequence) pairs in increasing order, never
--     above unit(reservation) of the call nor at or below unit(floor): so never beyond
--     what the group reserved for the shard, and above what earlier holders reserved.
--   * A fresh start of the station's store (a wipe, a restart from older data, a
--     failover: its key is missing or its run_id changed) loses positions. The station
--     then gets a new incarnation and refuses every shard until a caller brings a base
--     read from the group after it learnt of that incarnation: `top`, above every
--     reservation the group handed out before, so above every unit minted before.
--   * Callers with an old grant mint at most up to its reservation, which lies below the
--     floor of anyone the shard goes to later (shards.lua S1, S2): stale grants are safe.
-- Assumes what the lease protocol assumes (Redis TIME after a restart not behind the
-- TIME of the writes it lost) and that the station's and the group's masters' clocks
-- agree within B (else the station mints nothing: callers wait, then time out).
--
-- KEYS[1] the station's hash: rid, inc, and per shard ok:<k> (incarnation whose base it
--         took), t:<k> unit and s:<k> next sequence
-- ARGV[1] how many IDs are wanted (1 .. 2^sequenceBits)
-- ARGV[2] shard, ARGV[3] reservation (ms), ARGV[4] floor (ms)
-- ARGV[5] base (ms, the group's `top`), ARGV[6] the incarnation it was read for ('' if none)
-- ARGV[7] epoch (ms since 1970), ARGV[8] unit (ms), ARGV[9] sequence bits
--
-- Reply:
--   {1, now, nRuns, unit, firstSeq, count, ...}   runs of IDs, in increasing order
--   {-2, retryInMs}      nothing minted: the next unit is beyond the reservation
--   {-4, incarnation}    a fresh start: call again with a base read from the group now
-- @include mint.lua

local K = KEYS[1]
local want, shard, reservation, floor = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local base, base_inc = tonumber(ARGV[5]), ARGV[6]
local epoch, unit, max_seq = tonumber(ARGV[7]), tonumber(ARGV[8]), 2 ^ tonumber(ARGV[9])

local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local info = redis.call('INFO', 'server')
local at = string.find(info, 'run_id:', 1, true)
local rid = string.sub(info, at + 7, at + 46)
local st = redis.call('HMGET', K, 'rid', 'inc', 'ok:' .. shard, 't:' .. shard, 's:' .. shard)
if st[1] ~= rid then
  local inc = rid .. ':' .. tm[1] .. tm[2]
  redis.call('DEL', K)
  redis.call('HSET', K, 'rid', rid, 'inc', inc)
  return {-4, inc}
end
local t, s
if st[3] ~= st[2] then
  if base_inc ~= st[2] then return {-4, st[2]} end
  -- The first call after a fresh start: every unit up to the base's is taken.
  t, s = unit_of(base, epoch, unit), max_seq
  redis.call('HSET', K, 'ok:' .. shard, st[2], 't:' .. shard, string.format('%.0f', t), 's:' .. shard, s)
else
  t, s = tonumber(st[4]), tonumber(st[5])
end

local cap = unit_of(reservation, epoch, unit)
local reply = {1, now, 0}
local runs
runs, t, s = mint_runs(reply, want, t, s, unit_of(floor, epoch, unit) + 1, unit_of(now, epoch, unit), cap, max_seq)
if runs == 0 then return {-2, math.max(1, (t - cap) * unit)} end
reply[3] = runs
redis.call('HSET', K, 't:' .. shard, string.format('%.0f', t), 's:' .. shard, s)
return reply
