-- Moves a connection's sync status one step forward, atomically, and queues its system events in the same
-- script: NEW_CONNECTION -> INITIAL_SYNCED -> READY, only the next status is accepted. Because the check and
-- the write are one script, reaching READY (and so system.sync.initial.complete) happens exactly once however
-- many gateways race. This script is the only writer of `status` and `syncState` after conn_create.
-- The events go to the connection's outbox (one slot with its hash); the gateway moves them to the connection's
-- partition stream before it answers (queue/outbox.c), and the worker's repair sweep if it died first. One
-- order per connection: the outbox is moved in order, behind the change events queued before the call.
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:ob:{c:<id>}
-- ARGV[1] connectionId  ARGV[2] environmentId  ARGV[3] requested status  ARGV[4] now ms
-- ARGV[5] event id of system.connection.status.updated  ARGV[6] event id of system.sync.initial.complete
-- ARGV[7] the connection's partition stream (the outbox entries name it; nothing here touches it)
-- Returns {"notfound"}, {"invalid", current status}, or
-- {"ok", previous status, integration, account, sync, status, syncState, createdAt}.
local f = redis.call('HMGET', KEYS[1], 'env', 'status', 'integration', 'account', 'sync', 'createdAt')
if f[1] ~= ARGV[2] then
    return {'notfound'}
end
local current = f[2] or 'NEW_CONNECTION'
local nexts = {NEW_CONNECTION = 'INITIAL_SYNCED', INITIAL_SYNCED = 'READY'}
if nexts[current] ~= ARGV[3] then
    return {'invalid', current}
end
local status = ARGV[3]
local state = status == 'READY' and 'initial-sync-complete' or 'initial-sync-in-progress'
redis.call('HSET', KEYS[1], 'status', status, 'syncState', state)
local now = tonumber(ARGV[4])
local data = {connectionId = ARGV[1], status = status, syncState = state}
local function emit(id, type)
    local event = {v = 1, eventId = id, environmentId = ARGV[2], connectionId = ARGV[1], type = type,
        receivedAt = now, data = data}
    redis.call('RPUSH', KEYS[2], cjson.encode({ARGV[7], 'c', ARGV[1], 's', cjson.encode(event)}))
end
emit(ARGV[5], 'system.connection.status.updated')
if status == 'READY' then
    emit(ARGV[6], 'system.sync.initial.complete')
end
return {'ok', current, f[3] or '', f[4] or '', f[5] or '', status, state, f[6] or ''}
