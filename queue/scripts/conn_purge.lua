-- One step of a deleted connection's incremental purge (dispatch/purge.c): UNLINKs keys a SCAN found, but
-- only while the connection's tombstone is there (conn_delete.lua writes it). Once another worker has finished
-- the purge the id may name a new connection, whose keys match the same pattern: the check and the UNLINK are one
-- script so a slow worker cannot remove them. The tombstone and the outbox stay: the purge's last step removes
-- the one, the outbox empties itself as it is moved.
--
-- KEYS[1] wh:gone:{c:<id>}  KEYS[2..] keys of {c:<id>} found by SCAN (at most WH_PURGE_SCAN_COUNT)
-- ARGV[1] connectionId
-- Returns the number of keys removed, or -1 when the id is no longer being purged.
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
-- SCAN's pattern also matches another connection's key whose object id happens to contain "{c:<id>}": only
-- keys whose hash tag (their first {...}) is this connection's are removed.
local tag = '{c:' .. ARGV[1] .. '}'
local removed = 0
for i = 2, #KEYS do
    local open = string.find(KEYS[i], '{', 1, true)
    local kind = string.sub(KEYS[i], 1, open and open - 1 or 0)
    if open and string.sub(KEYS[i], open, open + #tag - 1) == tag and kind ~= 'wh:gone:' and kind ~= 'wh:ob:' then
        removed = removed + redis.call('UNLINK', KEYS[i])
    end
end
return removed
