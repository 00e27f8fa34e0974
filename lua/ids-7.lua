-- Mints a run of Snowflake IDs inside Redis (standalone and Sentinel: the group's own
-- server mints), for callers that cannot hold a lease. The minter is the permanent
-- holder "ids" of one shard of the group (includes/minter.lua): every call renews that
-- lease, so its reservation is min(TIME + B, ...) and, after a fresh start of the store
-- (a wipe, a restart from older data, a failover), its next IDs start above the new floor.
-- Within a unit, sequence numbers are handed out in order; when a unit is used up the
-- next one follows at once, ahead of TIME by at most B; beyond that the caller is told
-- to retry in a unit or so. Nothing waits or locks inside Redis.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1]  how many IDs are wanted (0 .. 2^sequenceBits; 0 only claims and checks)
-- ARGV[2]  lowest shard, ARGV[3] highest shard (the group's range)
-- ARGV[4]  B (ms), ARGV[5] the largest B this process has seen the group use (ms)
-- ARGV[6]  the layout and epoch, as text (must match the group's)
-- ARGV[7]  epoch (ms since 1970), ARGV[8] unit (ms), ARGV[9] sequence bits
-- ARGV[10] keep: how long change entries are kept (ms), for a group this call creates
--
-- Reply:
--   {1, shard, now, B, nRuns, unit, firstSeq, count, ...}  runs of IDs, in increasing order
--   {-2, retryInMs}             nothing minted: the next unit is beyond TIME + B, or no shard is free
--   {-3, option, groupValue}    the group uses another shard range, B or layout; nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local want, lo, hi = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hz, known_hz, lay = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local epoch, unit, seq_bits = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local keep = tonumber(ARGV[10])

-- @include minter.lua
-- @include mint.lua

local g, shard, reservation, floor, _, now = minter_lease('ids', lo, hi, hz, known_hz, lay, keep)
if not g then return shard end
if want == 0 then return {1, shard, now, g.hz, 0} end

-- Units: above the lease's floor, at most the reservation, from the last unit on.
local st = redis.call('HMGET', K_SHARDS, 'it:' .. shard, 'is:' .. shard)
local reply = {1, shard, now, g.hz, 0}
local runs, t, s = mint_runs(reply, want, tonumber(st[1] or '-1'), tonumber(st[2] or '0'),
  unit_of(floor, epoch, unit) + 1, unit_of(now, epoch, unit), unit_of(reservation, epoch, unit), 2 ^ seq_bits)
if runs == 0 then return {-2, math.max(1, (t - unit_of(reservation, epoch, unit)) * unit)} end
reply[5] = runs
redis.call('HSET', K_SHARDS, 'it:' .. shard, num(t), 'is:' .. shard, s)
return reply
