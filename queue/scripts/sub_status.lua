-- Re-enable a subscription (POST /v1/subscriptions/{id}/enable): status "active", the disabling reason and
-- the failure streak forgotten. Idempotent.
-- KEYS[1] subscriptions hash, KEYS[2] failing-since hash
-- ARGV[1] subscription id
-- Returns the subscription's JSON as stored now, or false when there is none.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return false
end
local sub = cjson.decode(raw)
if sub.status == 'disabled' then
  sub.status = 'active'
  sub.disabledReason = nil
  sub.disabledAt = nil
  raw = cjson.encode(sub)
  redis.call('HSET', KEYS[1], ARGV[1], raw)
end
redis.call('HDEL', KEYS[2], ARGV[1])
return raw
