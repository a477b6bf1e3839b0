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
-- SCAN's pattern also matches another connection's key whose object id happens to contain "{c:<id>}": only
-- keys whose hash tag (their first {...}) is this connection's are removed.
local tag = '{c:' .. ARGV[1] .. '}'
local removed = 0
for i = 2, #KEYS do
    local open = string.find(KEYS[i], '{', 1, true)
    if open and string.sub(KEYS[i], open, open + #tag - 1) == tag then
        removed = removed + redis.call('UNLINK', KEYS[i])
    end
end
return removed
