-- Reads the group without changing it: the live members, or the changes since a version.
--
-- KEYS: the seven group keys (see includes/common.lua)
-- ARGV[1] last change version the caller has seen, or '' for the whole live view
-- ARGV[2] log capacity
--
-- Reply: {now, ver, gap, n, item, ...}: with gap = 1 the items are the live members'
-- NodeInfo JSON; with gap = 0 they are change entries after ARGV[1], oldest first.
-- @include common.lua

local now = redis_now()
local ver = tonumber(redis.call('HGET', K_GROUP, 'ver') or '0')
local out = {}
local gap, n
if ARGV[1] == '' then
  gap, n = 1, live_view(now, out)
else
  gap, n = changes_since(tonumber(ARGV[1]), ver, now, tonumber(ARGV[2]), out)
end
local reply = {now, ver, gap, n}
for i = 1, #out do reply[#reply + 1] = out[i] end
return reply
