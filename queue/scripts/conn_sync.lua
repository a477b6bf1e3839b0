-- Queues records pushed through POST /v1/connections/{id}/sync/records on the connection's partition
-- stream, exactly as ingest.lua stores webhook change events (field "c" = connection id, "b" = a msgpack
-- array of envelopes), so records and webhooks of one connection share one order. All entries or none.
-- No dedupe: a record is a state ("this is the record as of updatedAt"), and the cache's per-field
-- last-writer-wins makes a repeated push a no-op; dedupe sets would only grow with every record synced.
-- The connection was read just before (gateway/api_sync.c: its environment and integration), in its own slot;
-- a connection deleted between that read and this call has its records queued like the webhooks that were in
-- flight when it went: the worker finds no sync configuration for it and applies none (dispatch/apply.c).
--
-- KEYS[1] wh:q:{p<N>} (the connection's partition)
-- ARGV[1] connectionId  ARGV[2..] entries (msgpack arrays of envelopes, ready to store)
-- Returns "ok".
for i = 2, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'c', ARGV[1], 'b', ARGV[i])
end
return 'ok'
