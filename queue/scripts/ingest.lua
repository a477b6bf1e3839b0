-- Queue one request's change events for one connection, each at most once.
-- KEYS[1] stream (wh:q:{pN}), KEYS[2] today's dedupe set, KEYS[3] yesterday's dedupe set
-- ARGV[1] connection id, ARGV[2] n, ARGV[3..2+n] dedupe keys, ARGV[3+n..2+2n] packed envelope maps,
-- ARGV[3+2n] dedupe set TTL in seconds
-- Returns {queued, duplicates, entry id or ""}.
-- The entry's field "b" is a msgpack array of the new envelopes: its header is written here and the
-- envelopes are concatenated as packed by the gateway, so nothing is re-encoded.
local conn = ARGV[1]
local n = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3 + 2 * n])
local parts = {}
local queued = 0
for i = 1, n do
  local member = conn .. ':' .. ARGV[2 + i]
  if redis.call('SISMEMBER', KEYS[3], member) == 0 and redis.call('SADD', KEYS[2], member) == 1 then
    queued = queued + 1
    parts[queued + 1] = ARGV[2 + n + i]
  end
end
if queued == 0 then
  return {0, n, ''}
end
redis.call('EXPIRE', KEYS[2], ttl)
if queued < 16 then
  parts[1] = string.char(0x90 + queued)
else
  parts[1] = string.char(0xdc, math.floor(queued / 256), queued % 256)
end
local id = redis.call('XADD', KEYS[1], '*', 'c', conn, 'b', table.concat(parts))
return {queued, n - queued, id}
