-- Reserves a block of a named short sequence (`member.sequence(name)`): numbers 1, 2, 3,
-- ... shared by the members of a group, handed out in blocks so that members draw
-- without a round trip per number. Gaps are allowed (a member that dies holding a block
-- loses the rest of it); a number handed out twice is not.
--
-- Unlike a Snowflake lease, a sequence has no clock to put its numbers above what a lost
-- write may have handed out, so it relies on Redis keeping its data, and refuses rather
-- than guesses when the store may have lost some:
--   Q1 a sequence's counter is trusted only in the store incarnation it was last written
--      in (field i:<name>); after a fresh start (a restart or failover noticed, which
--      may have lost the latest blocks; or a wipe) it refuses until a caller gives a floor;
--      and in the group record it was written under (field c:<name>, its `created`):
--      the rest of a group expires when idle but its counters do not (keep_alive), so a
--      counter met under a new group record is kept but refuses ('wiped') until a floor;
--   Q2 a missing counter is a new sequence (starting at 1) only in a group that has had
--      no fresh start (inc = 1) and was not recreated by a caller that knew an earlier
--      group record (wp, set by join-7.lua and by this script); otherwise it needs a floor;
--   Q3 a floor is taken only `wait` ms (Redis time) after the latest fresh start (fs),
--      and only when the store's identity is still the one the caller's probe saw (no
--      fresh start came between the probe and the floor, so the floor was read after
--      the wait of the latest one; test/model/sequences.pml, SEQHOLE3); every block is stamped with the store's identity (created ":" run_id) and a
--      caller uses a block only within `hold` < `wait` ms (its monotonic clock) after
--      sending a call that confirmed that identity. A confirmation of the old identity ran
--      before the fresh start, so by the time a floor is taken no block of before it is
--      still used, and the caller's floor (read after that) covers every number used.
--
-- KEYS: the seven group keys (see includes/group.lua); KEYS[8] the group's sequences
--   HASH  v:<name> last number handed out, i:<name> incarnation it was written in,
--         c:<name> `created` of the group record it was written under
-- ARGV[1] name
-- ARGV[2] how many numbers to reserve (0 only confirms the store's identity)
-- ARGV[3] `created` of the group record the caller knew ('' for none)
-- ARGV[4] floor ('' for none): numbers continue above max(floor, the counter)
-- ARGV[5] wait (ms) after a fresh start before a floor is taken
-- ARGV[6] with a floor: the store identity the caller's probe saw
--
-- Reply:
--   {1, first, last, identity, now}     the block first..last (empty when count is 0)
--   {-5, reason, waitMs, identity}      refused; reason 'wiped' | 'restart' | 'unknown'
--                                      (a new name after a fresh start); a floor is taken
--                                      after waitMs (0: now)
-- @include group.lua
local K_SEQS = KEYS[8]
local name, count, known_created = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local floor, wait = tonumber(ARGV[4]), tonumber(ARGV[5])

local now = redis_now()
local g = load_group()
-- The group record is gone: the store lost its data. The caller's member rejoins
-- (creating the record again) and the next call gets a verdict.
if not g then return {-5, 'wiped', wait, ''} end
notice_restart(g, now, 0)
local wp = redis.call('HGET', K_GROUP, 'wp') == '1'
if known_created ~= '' and known_created ~= g.created and not wp then
  redis.call('HSET', K_GROUP, 'wp', '1')
  wp = true
end
local identity = g.created .. ':' .. g.rid

local st = redis.call('HMGET', K_SEQS, 'v:' .. name, 'i:' .. name, 'c:' .. name)
local reason
keep_alive(g, false)
if st[1] then
  if st[3] and st[3] ~= g.created then
    reason = 'wiped'
  elseif tonumber(st[2]) ~= g.inc then
    reason = 'restart'
  end
elseif wp then
  reason = 'wiped'
elseif g.inc > 1 then
  reason = 'unknown'
end
local left = math.max(0, g.fs + wait - now)
if reason and (not floor or left > 0) then return {-5, reason, left, identity} end
if floor and ARGV[6] ~= identity then return {-5, reason or 'restart', left, identity} end

local last = tonumber(st[1] or '0')
if floor then last = math.max(last, floor) end
if count == 0 and not reason and not floor then return {1, last + 1, last, identity, now} end
redis.call('HSET', K_SEQS, 'v:' .. name, num(last + count), 'i:' .. name, g.inc, 'c:' .. name, g.created)
return {1, last + 1, last + count, identity, now}
