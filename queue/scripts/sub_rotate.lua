-- Rotate a subscription's signing secret: the new (sealed) secret signs from now on, the old one keeps signing
-- alongside it until ARGV[3] (ms), so receivers can switch without losing a delivery. A second rotation during
-- the overlap replaces the older secret: at most two sign at once.
-- KEYS[1] subscriptions hash
-- ARGV[1] subscription id, ARGV[2] new sealed secret, ARGV[3] previous secret valid until (ms)
-- Returns the subscription's JSON as stored now, or false when there is none.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return false
end
local sub = cjson.decode(raw)
sub.previousSecret = sub.secret
sub.previousSecretUntil = ARGV[3]
sub.secret = ARGV[2]
raw = cjson.encode(sub)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
