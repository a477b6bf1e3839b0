-- Deletes one connection of one environment, atomically: its hash (with its sealed credentials), its entry
-- in the environment's set (freeing a connectionLimit slot) and its app-level index entry; queues the id for
-- the incremental purge of its other keys (dispatch/purge.c: cache records, versions, indexes, associations,
-- all under {c:<id>}); and queues system.connection.deleted on the connection's partition stream, behind its
-- change events. Another environment's connection is "notfound", exactly like a missing one.
-- Key names follow queue/keys.h; the index key is derived from the hash (wh:acct:<integration>:<account>),
-- as the caller cannot know it before reading the hash. (Spans several tags, like sub_fail.lua.)
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:env:{e:<env>}:conns  KEYS[3] wh:purge  KEYS[4] wh:q:{p<N>}
-- ARGV[1] connectionId  ARGV[2] environmentId  ARGV[3] now ms  ARGV[4] event id of system.connection.deleted
-- Returns "ok" or "notfound".
local f = redis.call('HMGET', KEYS[1], 'env', 'integration', 'account', 'status', 'syncState')
if f[1] ~= ARGV[2] then
    return 'notfound'
end
if f[2] and f[3] and f[3] ~= '' then
    redis.call('HDEL', 'wh:acct:' .. f[2] .. ':' .. f[3], ARGV[1])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local event = {v = 1, eventId = ARGV[4], environmentId = ARGV[2], connectionId = ARGV[1],
    type = 'system.connection.deleted', receivedAt = tonumber(ARGV[3]),
    data = {connectionId = ARGV[1], status = f[4] or 'NEW_CONNECTION', syncState = f[5] or 'initial-sync-in-progress'}}
redis.call('XADD', KEYS[4], '*', 'c', ARGV[1], 's', cjson.encode(event))
return 'ok'
