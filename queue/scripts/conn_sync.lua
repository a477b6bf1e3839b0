-- Queues records pushed through POST /v1/connections/{id}/sync/records on the connection's partition
-- stream, exactly as ingest.lua stores webhook change events (field "c" = connection id, "b" = a msgpack
-- array of envelopes), so records and webhooks of one connection share one order. All entries or none.
-- No dedupe: a record is a state ("this is the record as of updatedAt"), and the cache's per-field
-- last-writer-wins makes a repeated push a no-op; dedupe sets would only grow with every record synced.
-- (Spans the connection's tag and a partition's, like sub_fail.lua: see queue/README.md.)
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:q:{p<N>} (the connection's partition)
-- ARGV[1] connectionId  ARGV[2] environmentId  ARGV[3] integrationId the envelopes were packed with
-- ARGV[4..] entries (msgpack arrays of envelopes, ready to store)
-- Returns "notfound" (missing, another environment's, or replaced by a connection of another integration
-- since the caller read it) or "ok".
local f = redis.call('HMGET', KEYS[1], 'env', 'integration')
if f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then
    return 'notfound'
end
for i = 4, #ARGV do
    redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'b', ARGV[i])
end
return 'ok'
