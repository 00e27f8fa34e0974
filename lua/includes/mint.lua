-- Runs of Snowflake IDs from a position (unit t, next sequence s): above unit `first`,
-- not before the unit of Redis TIME (`clock`), at most unit `cap`. Appends
-- unit, first sequence, count per run to `reply`; returns the runs and the new position.
-- Self-contained: scripts on a minting station's slot include it without group.lua.
local function mint_runs(reply, want, t, s, first, clock, cap, max_seq)
  if t < first or t < clock then
    t = math.max(first, clock, t + 1)
    s = 0
  end
  local runs = 0
  while want > 0 do
    if s >= max_seq then
      t = t + 1
      s = 0
    end
    if t > cap then break end
    local n = math.min(want, max_seq - s)
    reply[#reply + 1] = string.format('%.0f', t)
    reply[#reply + 1] = s
    reply[#reply + 1] = n
    runs = runs + 1
    s = s + n
    want = want - n
  end
  return runs, t, s
end

-- The unit an instant (ms) falls in.
local function unit_of(ms, epoch, unit)
  return math.floor((ms - epoch) / unit)
end
