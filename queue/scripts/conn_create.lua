-- Creates one connection, atomically: the id must be free, the environment under its connectionLimit,
-- and the app-level account index (when there is an account) under its per-account cap.
-- Key names follow queue/keys.h.
--
-- KEYS[1] wh:conn:{c:<id>}           connection hash
-- KEYS[2] wh:env:{e:<env>}:conns     the environment's connection ids
-- KEYS[3] wh:env:{e:<env>}           environment hash (connectionLimit; "0" = unlimited)
-- KEYS[4] wh:acct:<integ>:<account>  app-level index; "wh:acct:-:-" and never touched when ARGV[4] == ""
-- KEYS[5] wh:purge                   connections deleted whose keys are still being purged
-- ARGV: [1] connectionId [2] environmentId [3] integrationId [4] externalAccountId or "" [5] sealed credentials
--       [6] sync JSON [7] createdAt (ISO 8601) [8] index value {"env":…,"creds":…} [9] connections per account cap
-- Returns "ok", "exists", "purging", "limit" or "account_limit"; writes nothing unless "ok".
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 'exists'
end
-- A deleted connection's id is free again once dispatch/purge.c has removed its last key: until then a new
-- connection under that id would see (and then lose to the purge) the old one's cache.
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
    return 'purging'
end
local limit = tonumber(redis.call('HGET', KEYS[3], 'connectionLimit') or '0') or 0
if limit > 0 and redis.call('SCARD', KEYS[2]) >= limit then
    return 'limit'
end
local account = ARGV[4]
if account ~= '' and redis.call('HLEN', KEYS[4]) >= tonumber(ARGV[9]) then
    return 'account_limit'
end
redis.call('HSET', KEYS[1], 'env', ARGV[2], 'integration', ARGV[3], 'account', account, 'creds', ARGV[5],
    'sync', ARGV[6], 'status', 'NEW_CONNECTION', 'syncState', 'initial-sync-in-progress', 'createdAt', ARGV[7])
redis.call('SADD', KEYS[2], ARGV[1])
if account ~= '' then
    redis.call('HSET', KEYS[4], ARGV[1], ARGV[8])
end
return 'ok'
