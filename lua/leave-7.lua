-- A graceful leave: removes the member life at once, frees its shard into quarantine,
-- takes its last acknowledgements and hands any report it still owned to whichever
-- member beats next.
--
-- KEYS: the seven group keys (see includes/common.lua)
-- ARGV[1] nodeId
-- ARGV[2] life token
-- ARGV[3] quarantine (ms)
-- ARGV[4] Pub/Sub channel
-- ARGV[5] log capacity
-- ARGV[6] number of acknowledged report ids that follow
-- ARGV[7..] acknowledged report ids
--
-- Reply: {1} when the life was removed; {-4} when it was not a member any more.
-- @include common.lua

local id, life, quarantine = ARGV[1], ARGV[2], tonumber(ARGV[3])
local channel, cap = ARGV[4], tonumber(ARGV[5])

local rec = redis.call('HGET', K_NODES, id)
if not rec or string.sub(rec, 1, #life + 1) ~= life .. '\n' then return {-4} end

local nacks = tonumber(ARGV[6])
for i = 7, 6 + nacks do
  local v = redis.call('HGET', K_DOWNS, ARGV[i])
  if v and string.sub(v, 1, #life + 1) == life .. '\n' then redis.call('HDEL', K_DOWNS, ARGV[i]) end
end
if redis.call('HLEN', K_DOWNS) > 0 then
  local all = redis.call('HGETALL', K_DOWNS)
  for i = 1, #all, 2 do
    if string.sub(all[i + 1], 1, #life + 1) == life .. '\n' then
      redis.call('HSET', K_DOWNS, all[i], string.sub(all[i + 1], #life + 1))
    end
  end
end

remove_member(id, rec, 'left', redis_now(), quarantine, channel, cap)
return {1}
