-- The first step of creating a connection: a place in its environment, within connectionLimit, in the
-- environment's slot. The reservation is recorded with its time in wh:env:{e:<env>}:resv until the connection's
-- hash exists (the gateway then removes the record); a record older than a minute is a creation that died half
-- way, which the worker's repair sweep (dispatch/repair.c) undoes when no hash came of it.
--
-- KEYS[1] wh:env:{e:<env>}:conns  KEYS[2] wh:env:{e:<env>}  KEYS[3] wh:env:{e:<env>}:resv
-- ARGV[1] connectionId  ARGV[2] now ms  ARGV[3] app-level index key ("" when none)
-- Returns "member" (already in the set: nothing written), "limit" (nothing written) or "reserved".
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
    return 'member'
end
local limit = tonumber(redis.call('HGET', KEYS[2], 'connectionLimit') or '0') or 0
if limit > 0 and redis.call('SCARD', KEYS[1]) >= limit then
    return 'limit'
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 'reserved'
