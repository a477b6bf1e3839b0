-- Removes the head of an outbox (queue/outbox.c) once its entry is on its stream: only when the head is still the
-- entry the caller moved, so that two processes draining one outbox at once never drop an entry the other has not
-- moved (either may move one twice: the same event id reaches the stream twice, and is delivered at least once).
--
-- KEYS[1] wh:ob:{c:<id>} or wh:ob:{e:<env>}
-- ARGV[1] the entry as LRANGE returned it
-- Returns 1 when it was removed, 0 when the head is another entry (someone else moved it).
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
    redis.call('LPOP', KEYS[1])
    return 1
end
return 0
