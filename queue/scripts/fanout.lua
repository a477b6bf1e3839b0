-- Turn one processed stream entry into delivery tasks and acknowledge it, atomically: either the
-- entry is still pending (and will be processed again) or its deliveries exist. Never both, never neither.
-- Each event's body is kept, indexed under its environment (GET /v1/events) and given a delivery-state
-- hash (subscription -> "pending:<webhookId>"), all for WH_EVENT_RETENTION_S.
-- KEYS[1] stream, KEYS[2] due zset
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] lease-until ms (deliveries start leased to the caller),
-- ARGV[4] delivery key prefix, ARGV[5] event key prefix, ARGV[6] retention seconds, ARGV[7] now ms,
-- ARGV[8] event index key prefix (+ environment id), ARGV[9] event delivery-state key prefix,
-- ARGV[10] n events, then n × (eventId, body, environmentId, receivedAt ms),
-- then m deliveries, then m × (deliveryId, eventId, subscriptionId, environmentId, connectionId, type, order key,
-- occurredAt ms). A delivery with an order key (an "ordered" subscription) joins that object's queue (zset by
-- occurredAt) and is due at once instead of leased to the caller: claim.lua starts only the head of the queue.
-- Returns 1 when the deliveries were created, 0 when another consumer had already acknowledged the entry.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
local ttl = tonumber(ARGV[6])
local oldest = tonumber(ARGV[7]) - ttl * 1000
local trimmed = {}
local n = tonumber(ARGV[10])
local i = 11
for _ = 1, n do
  local index = ARGV[8] .. ARGV[i + 2]
  redis.call('SET', ARGV[5] .. ARGV[i], ARGV[i + 1], 'EX', ttl)
  redis.call('ZADD', index, ARGV[i + 3], ARGV[i])
  if not trimmed[index] then
    trimmed[index] = true
    redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. oldest)
    redis.call('EXPIRE', index, ttl)
  end
  i = i + 4
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  local id = ARGV[i]
  local key = ARGV[4] .. id
  local states = ARGV[9] .. ARGV[i + 1]
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'event', ARGV[i + 1], 'sub', ARGV[i + 2], 'env', ARGV[i + 3], 'conn', ARGV[i + 4],
      'type', ARGV[i + 5], 'attempt', 0, 'created', ARGV[7], 'state', 'pending')
    if ARGV[i + 6] ~= '' then
      redis.call('HSET', key, 'ord', ARGV[i + 6])
      redis.call('ZADD', ARGV[i + 6], ARGV[i + 7], id)
      redis.call('EXPIRE', ARGV[i + 6], ttl)
      redis.call('ZADD', KEYS[2], ARGV[7], id)
    else
      redis.call('ZADD', KEYS[2], ARGV[3], id)
    end
    redis.call('HSET', states, ARGV[i + 2], 'pending:' .. id)
    redis.call('EXPIRE', states, ttl)
  end
  i = i + 8
end
return 1
