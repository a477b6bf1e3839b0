-- The last step of a deleted connection's purge (dispatch/purge.c): its tombstone goes, which frees the id for a
-- new connection. Only the tombstone the purge started from: if a slow worker finishes after another worker did
-- and the id was created and deleted again since, the newer tombstone (and the purge it stands for) stays.
--
-- KEYS[1] wh:gone:{c:<id>}
-- ARGV[1] the tombstone's "at" as the purge read it
-- Returns 1 when removed, 0 when the tombstone is another (or gone).
if redis.call('HGET', KEYS[1], 'at') == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
