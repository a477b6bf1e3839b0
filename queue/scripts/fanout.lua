-- Turn one processed stream entry into delivery tasks and acknowledge it, atomically: either the
-- entry is still pending (and will be processed again) or its deliveries exist. Never both, never neither.
-- KEYS[1] stream, KEYS[2] due zset
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] lease-until ms (deliveries start leased to the caller),
-- ARGV[4] delivery key prefix, ARGV[5] event key prefix, ARGV[6] event body TTL seconds, ARGV[7] now ms,
-- ARGV[8] n events, then n × (eventId, body), ARGV[9+2n] m deliveries, then m × (deliveryId, eventId,
-- subscriptionId, environmentId, connectionId, type)
-- Returns 1 when the deliveries were created, 0 when another consumer had already acknowledged the entry.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
local n = tonumber(ARGV[8])
local i = 9
for _ = 1, n do
  redis.call('SET', ARGV[5] .. ARGV[i], ARGV[i + 1], 'EX', ARGV[6])
  i = i + 2
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  local id = ARGV[i]
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'event', ARGV[i + 1], 'sub', ARGV[i + 2], 'env', ARGV[i + 3], 'conn', ARGV[i + 4],
      'type', ARGV[i + 5], 'attempt', 0, 'created', ARGV[7], 'state', 'pending')
    redis.call('ZADD', KEYS[2], ARGV[3], id)
  end
  i = i + 6
end
return 1
