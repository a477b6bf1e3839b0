-- A delivery to a subscription failed: remember since when it has only failed, and disable the subscription
-- when that is longer than the limit (or at once: 410 Gone). Disabling happens once: the transition from
-- active writes status "disabled" and queues one system.subscription.disabled event for the environment's
-- other subscriptions, in the same script, through the environment's outbox (one slot with the subscriptions:
-- the worker moves it to the partition stream at once, queue/outbox.c, or its repair sweep later).
-- KEYS[1] wh:subs:{e:<env>}, KEYS[2] wh:subfail:{e:<env>}, KEYS[3] wh:ob:{e:<env>}
-- ARGV[1] subscription id, ARGV[2] now ms, ARGV[3] disable after ms, ARGV[4] "1" = disable now,
-- ARGV[5] reason, ARGV[6] now as ISO 8601, ARGV[7] system event id, ARGV[8] environment id,
-- ARGV[9] the partition stream the event goes to (named by the outbox entry; nothing here touches it)
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
redis.call('RPUSH', KEYS[3], cjson.encode({ARGV[9], 's', cjson.encode(event)}))
return 1
