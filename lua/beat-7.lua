-- One heartbeat of a member life: renews its membership and its shard reservation (or,
-- after a restart or failover of the store, grants it a new lease above the new floor),
-- reaps expired members, takes acknowledgements of `node down` reports it handled, and
-- returns its pending reports and the group changes it has not seen yet.
--
-- KEYS: the seven group keys (see includes/group.lua)
-- ARGV[1]  nodeId
-- ARGV[2]  life token
-- ARGV[3]  ttl (ms)
-- ARGV[4]  `created` of the group record this life joined (detects a wiped Redis)
-- ARGV[5]  store incarnation of the last change this member has seen
-- ARGV[6]  last change version this member has seen
-- ARGV[7]  proposed reservation: the holder's clock (or what it minted, if ahead) + ttl, ms since 1970
-- ARGV[8]  largest B this process knows the group to use (ms)
-- ARGV[9]  quarantine (ms) for shards freed while reaping
-- ARGV[10] Pub/Sub channel
-- ARGV[11] reap limit per call
-- ARGV[12] number of acknowledged report ids that follow
-- ARGV[13..] acknowledged report ids
--
-- Reply:
--   {1, now, reservation (-1 without shard), floor, fence, ver, inc, B, gap, nChanges, change...,
--    nReports, reportId, json, ...}
--     where gap = 1 means the changes are the whole live view (the log no longer reached
--     back, or the store restarted); a fence other than the lease's means a new lease
--   {-4, 'gone' | 'expired'}  this life is not (or no longer) a member; nothing written
--   {-5}                      the group record is gone or new (Redis lost its data); nothing written
-- @include group.lua
-- @include shards.lua
-- @include membership.lua

local id, life, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local known_inc, known = tonumber(ARGV[5]), tonumber(ARGV[6])
local proposed, known_hz, quarantine = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local channel, limit = ARGV[10], tonumber(ARGV[11])

local now = redis_now()
local g = load_group()
if not g or g.created ~= ARGV[4] then return {-5} end
notice_restart(g, now, known_hz)

local rec = redis.call('HGET', K_NODES, id)
if not rec then return {-4, 'gone'} end
local rlife, shard = unpack_record(rec)
if rlife ~= life then return {-4, 'gone'} end
local score = tonumber(redis.call('ZSCORE', K_MEMBERS, id) or '0')
if score <= now and not in_grace(g, score, now) then return {-4, 'expired'} end

redis.call('ZADD', K_MEMBERS, 'XX', num(now + ttl), id)

local reservation, floor, fence = -1, 0, 0
if shard >= 0 then reservation, floor, fence = lease(g, shard, proposed, now, ttl, false) end

local reaped = reap(g, now, life, quarantine, channel, limit)
keep_alive(g, reaped > 0)
take_acks(g, life, now, channel, 13, tonumber(ARGV[12]))

local changes = {}
local gap, nchanges = changes_since(g, known_inc, known, now, changes)
local reply = {1, now, reservation, floor, fence, g.ver, g.inc, g.hz or 0, gap, nchanges}
for i = 1, #changes do reply[#reply + 1] = changes[i] end
local reports = {}
reply[#reply + 1] = owned_reports(life, now, reports)
for i = 1, #reports do reply[#reply + 1] = reports[i] end
return reply
