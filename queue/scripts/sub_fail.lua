-- A delivery to a subscription failed: remember since when it has only failed, and disable the subscription
-- when that is longer than the limit (or at once: 410 Gone). Disabling happens once: the transition from
-- active writes status "disabled" and queues one system.subscription.disabled event for the environment's
-- other subscriptions, in the same script. (Spans the environment's tag and a partition's: see README.)
-- KEYS[1] subscriptions hash, KEYS[2] failing-since hash, KEYS[3] partition stream for the system event
-- ARGV[1] subscription id, ARGV[2] now ms, ARGV[3] disable after ms, ARGV[4] "1" = disable now,
-- ARGV[5] reason, ARGV[6] now as ISO 8601, ARGV[7] system event id, ARGV[8] environment id
-- Returns 1 when this call disabled the subscription, else 0.
local since = redis.call('HGET', KEYS[2], ARGV[1])
if not since then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  since = ARGV[2]
end
if ARGV[4] ~= '1' and tonumber(ARGV[2]) - tonumber(since) < tonumber(ARGV[3]) then
  return 0
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
local sub = cjson.decode(raw)
if sub.status == 'disabled' then
  return 0
end
sub.status = 'disabled'
sub.disabledReason = ARGV[5]
sub.disabledAt = ARGV[6]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(sub))
redis.call('HDEL', KEYS[2], ARGV[1])
local event = {v = 1, eventId = ARGV[7], environmentId = ARGV[8], type = 'system.subscription.disabled',
  receivedAt = tonumber(ARGV[2]), data = {subscriptionId = ARGV[1], reason = ARGV[5], disabledAt = ARGV[6]}}
redis.call('XADD', KEYS[3], '*', 's', cjson.encode(event))
return 1
