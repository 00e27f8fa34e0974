-- Reads the group without changing it: the live members, or the changes since a version.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1] store incarnation of the last change the caller has seen ('' for the whole live view)
-- ARGV[2] last change version the caller has seen
--
-- Reply: {now, ver, inc, gap, n, item, ...}: with gap = 1 the items are the live members'
-- NodeInfo JSON; with gap = 0 they are change entries after ARGV[2], oldest first.
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local now = redis_now()
local g = load_group() or { ver = 0, inc = 0, fs = 0, mt = 0 }
local out = {}
local gap, n
if ARGV[1] == '' then
  gap, n = 1, live_view(g, now, out)
else
  gap, n = changes_since(g, tonumber(ARGV[1]), tonumber(ARGV[2]), now, out)
end
local reply = {now, g.ver, g.inc, gap, n}
for i = 1, #out do reply[#reply + 1] = out[i] end
return reply
