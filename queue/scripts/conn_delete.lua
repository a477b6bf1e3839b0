-- Deletes one connection of one environment, in the connection's slot, atomically: its hash (with its sealed
-- credentials) goes, a tombstone takes its place (what the connection was: environment, integration, account),
-- and system.connection.deleted goes to the connection's outbox, behind its other system events. Another
-- environment's connection is "notfound", exactly like a missing one.
-- The steps after it (gateway/api_connections.c) are idempotent and repeated by the worker from the tombstone
-- when a process dies in between: the id into wh:purge, out of the environment's set, out of the app-level index;
-- the outbox to the partition stream (queue/outbox.c). dispatch/purge.c removes the tombstone after the last key.
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:gone:{c:<id>}  KEYS[3] wh:ob:{c:<id>}
-- ARGV[1] connectionId  ARGV[2] environmentId  ARGV[3] now ms  ARGV[4] event id of system.connection.deleted
-- ARGV[5] the connection's partition stream (the outbox entry names it; nothing here touches it)
-- Returns {"ok", integration, account} or {"notfound"}.
local f = redis.call('HMGET', KEYS[1], 'env', 'integration', 'account', 'status', 'syncState')
if f[1] ~= ARGV[2] then
    return {'notfound'}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'env', ARGV[2], 'integration', f[2] or '', 'account', f[3] or '', 'at', ARGV[3])
local event = {v = 1, eventId = ARGV[4], environmentId = ARGV[2], connectionId = ARGV[1],
    type = 'system.connection.deleted', receivedAt = tonumber(ARGV[3]),
    data = {connectionId = ARGV[1], status = f[4] or 'NEW_CONNECTION', syncState = f[5] or 'initial-sync-in-progress'}}
redis.call('RPUSH', KEYS[3], cjson.encode({ARGV[5], 'c', ARGV[1], 's', cjson.encode(event)}))
return {'ok', f[2] or '', f[3] or ''}
