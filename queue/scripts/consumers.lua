-- Forget the consumers of one partition's group that hold nothing and have been silent long: every worker process
-- joins the group under its own name (hostname-pid, or a Kubernetes pod's name), so consumers of processes long
-- gone pile up (XINFO CONSUMERS, the memory of each). A consumer with pending entries is kept: those entries
-- move to a live consumer by XAUTOCLAIM after WHARF_RECLAIM_IDLE, and it goes on a later sweep. Deleting one
-- with nothing pending loses nothing. One slot: the partition's stream.
-- KEYS[1] stream; ARGV[1] group, ARGV[2] idle ms after which an empty consumer is forgotten, ARGV[3] the caller's
-- own consumer name (never forgotten). Returns the number forgotten.
local forgot = 0
local idle_ms = tonumber(ARGV[2])
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for j = 1, #c, 2 do
    if c[j] == 'name' then name = c[j + 1]
    elseif c[j] == 'pending' then pending = c[j + 1]
    elseif c[j] == 'idle' then idle = c[j + 1] end
  end
  if name and name ~= ARGV[3] and pending == 0 and idle and idle >= idle_ms then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    forgot = forgot + 1
  end
end
return forgot
