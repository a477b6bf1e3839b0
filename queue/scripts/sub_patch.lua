-- Change some members of a subscription (PATCH /v1/subscriptions/{id}), atomically against the worker's
-- disabling and rotate-secret. The patch was validated by the caller; a member set to JSON null is removed
-- (connectionIds: every connection again; rateLimitPerSecond: no limit).
-- KEYS[1] subscriptions hash
-- ARGV[1] subscription id, ARGV[2] patch (JSON object)
-- Returns the subscription's JSON as stored now, or false when there is none.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return false
end
local sub = cjson.decode(raw)
for k, v in pairs(cjson.decode(ARGV[2])) do
  if v == cjson.null and k ~= 'rateLimitPerSecond' then
    sub[k] = nil
  else
    sub[k] = v
  end
end
raw = cjson.encode(sub)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
