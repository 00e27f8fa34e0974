-- A graceful leave: removes the member life at once, frees its shard into quarantine,
-- takes its last acknowledgements and hands any report it still owned to whichever
-- member beats next.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1] nodeId
-- ARGV[2] life token
-- ARGV[3] quarantine (ms)
-- ARGV[4] Pub/Sub channel
-- ARGV[5] largest B this process knows the group to use (ms)
-- ARGV[6] number of acknowledged report ids that follow
-- ARGV[7..] acknowledged report ids
--
-- Reply: {1} when the life was removed; {-4} when it was not a member any more.
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local id, life, quarantine = ARGV[1], ARGV[2], tonumber(ARGV[3])
local channel = ARGV[4]

local g = load_group()
if not g then return {-4} end
local rec = redis.call('HGET', K_NODES, id)
if not rec or string.sub(rec, 1, #life + 1) ~= life .. '\n' then return {-4} end
local now = redis_now()
notice_restart(g, now, tonumber(ARGV[5]))

take_acks(g, life, now, channel, 7, tonumber(ARGV[6]))
if redis.call('HLEN', K_DOWNS) > 0 then
  local all = redis.call('HGETALL', K_DOWNS)
  for i = 1, #all, 2 do
    if string.sub(all[i + 1], 1, #life + 1) == life .. '\n' then
      redis.call('HSET', K_DOWNS, all[i], string.sub(all[i + 1], #life + 1))
    end
  end
end

remove_member(g, id, rec, 'left', now, quarantine, channel)
keep_alive(g, true)
return {1}
