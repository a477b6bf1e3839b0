-- Queue the change events of several requests (one entry each), each event at most once.
-- KEYS[1] stream (wh:q:{pN}), KEYS[2] today's dedupe set, KEYS[3] yesterday's dedupe set
-- ARGV[1] dedupe set TTL (s), ARGV[2] request count, then per request: connection id, n, n dedupe members
-- (binary, already scoped to the connection: queue/append.h, wh_dedupe_member),
-- the entry (a msgpack array of n envelopes, ready to store), the envelopes' offsets in it ("o1,…,on,end").
-- Returns one {queued, duplicates, entry id or ""} per request, in order.
-- Dedupe is checked and recorded once for the whole call (a redis.call costs more than the work it does);
-- the first occurrence of a key in the call wins, so a redelivery inside one call is still caught.
-- Without duplicates (the common case) an entry is stored as the gateway built it; otherwise the fresh
-- envelopes are cut out of it behind a new array header. Nothing is re-encoded either way.
-- Needs Redis >= 7.0 (SMISMEMBER, EXPIRE NX). The caller keeps a call under a few thousand events
-- (unpack's stack limit).
local nreq = tonumber(ARGV[2])
local reqs, members = {}, {}
local i = 3
for r = 1, nreq do
  local n = tonumber(ARGV[i + 1])
  local req = {conn = ARGV[i], n = n, first = #members + 1, entry = ARGV[i + 2 + n], offsets = ARGV[i + 3 + n]}
  for k = 1, n do
    members[#members + 1] = ARGV[i + 1 + k]
  end
  reqs[r] = req
  i = i + 4 + n
end
local today = redis.call('SMISMEMBER', KEYS[2], unpack(members))
local before = redis.call('SMISMEMBER', KEYS[3], unpack(members))
local seen, fresh, out = {}, {}, {}
for r = 1, nreq do
  local req = reqs[r]
  local keep, queued = {}, 0
  for k = 1, req.n do
    local m = req.first + k - 1
    if today[m] == 0 and before[m] == 0 and not seen[members[m]] then
      seen[members[m]] = true
      fresh[#fresh + 1] = members[m]
      keep[k] = true
      queued = queued + 1
    end
  end
  if queued == 0 then
    out[r] = {0, req.n, ''}
  else
    local entry = req.entry
    if queued < req.n then
      local offs = {}
      for o in string.gmatch(req.offsets, '%d+') do
        offs[#offs + 1] = tonumber(o)
      end
      local parts = {queued < 16 and string.char(0x90 + queued) or string.char(0xdc, math.floor(queued / 256), queued % 256)}
      for k = 1, req.n do
        if keep[k] then
          parts[#parts + 1] = string.sub(entry, offs[k] + 1, offs[k + 1])
        end
      end
      entry = table.concat(parts)
    end
    out[r] = {queued, req.n - queued, redis.call('XADD', KEYS[1], '*', 'c', req.conn, 'b', entry)}
  end
end
if #fresh > 0 then
  redis.call('SADD', KEYS[2], unpack(fresh))
  redis.call('EXPIRE', KEYS[2], ARGV[1], 'NX')
end
return out
