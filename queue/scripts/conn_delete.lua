-- Deletes one connection of one environment, atomically: its hash, its entry in the environment's set and
-- its app-level index entry. Another environment's connection is "notfound", exactly like a missing one.
-- Key names follow queue/keys.h; the index key is derived from the hash (wh:acct:<integration>:<account>),
-- as the caller cannot know it before reading the hash.
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:env:{e:<env>}:conns
-- ARGV[1] connectionId  ARGV[2] environmentId
-- Returns "ok" or "notfound".
if redis.call('HGET', KEYS[1], 'env') ~= ARGV[2] then
    return 'notfound'
end
local f = redis.call('HMGET', KEYS[1], 'integration', 'account')
if f[1] and f[2] and f[2] ~= '' then
    redis.call('HDEL', 'wh:acct:' .. f[1] .. ':' .. f[2], ARGV[1])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 'ok'
