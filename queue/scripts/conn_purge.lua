-- One step of a deleted connection's incremental purge (dispatch/purge.c): UNLINKs keys a SCAN found, but
-- only while the id is still in the purge set. Once another worker has finished the purge the id may name a
-- new connection, whose keys match the same pattern: the check and the UNLINK are one script so a slow
-- worker cannot remove them. (Keys of the connection's tag plus the purge set: see queue/README.md.)
--
-- KEYS[1] wh:purge  KEYS[2..] keys of {c:<id>} found by SCAN (at most WH_PURGE_SCAN_COUNT)
-- ARGV[1] connectionId
-- Returns the number of keys removed, or -1 when the id is no longer being purged.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
    return -1
end
if #KEYS < 2 then
    return 0
end
return redis.call('UNLINK', unpack(KEYS, 2))
