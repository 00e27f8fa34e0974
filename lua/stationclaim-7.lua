-- The group side of a minting station (Redis Cluster): station k mints on the master
-- that owns the slot of its key (lua/station-1.lua), under the shard the group keeps
-- for it, held permanently by "ids:<k>" (includes/minter.lua). This call takes or
-- renews that lease; the caller passes the reservation and floor on to the station.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1]  the station number k
-- ARGV[2]  lowest shard, ARGV[3] highest shard (the group's range)
-- ARGV[4]  B (ms), ARGV[5] the largest B this process has seen the group use (ms)
-- ARGV[6]  the layout and epoch, as text (must match the group's)
-- ARGV[7]  keep: how long change entries are kept (ms), for a group this call creates
--
-- Reply:
--   {1, shard, now, B, reservation, floor, top}   top: above every reservation handed
--                                 out on the shard before this call (a station's restart base)
--   {-2, retryInMs}             no shard is free
--   {-3, option, groupValue}    the group uses another shard range, B or layout; nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua
-- @include minter.lua

local g, shard, reservation, floor, top, now = minter_lease('ids:' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]))
if not g then return shard end
return {1, shard, now, g.hz, num(reservation), num(floor), num(top)}
