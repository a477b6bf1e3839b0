-- The last step of creating a connection (gateway/api_connections.c): the environment's reservation
-- (env_reserve.lua) and the app-level index entry (acct_reserve.lua) are made first, then this writes the
-- connection's hash, in the connection's slot. The id must be free: no connection under it, and no deleted one
-- whose keys are still being purged (its tombstone, removed by dispatch/purge.c after its last key: until then a
-- new connection under that id would see, and then lose to the purge, the old one's cache).
--
-- KEYS[1] wh:conn:{c:<id>}  KEYS[2] wh:gone:{c:<id>}
-- ARGV: [1] environmentId [2] integrationId [3] externalAccountId or "" [4] sealed credentials [5] sync JSON
--       [6] createdAt (ISO 8601)
-- Returns "ok", "exists" or "purging"; writes nothing unless "ok".
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 'exists'
end
if redis.call('EXISTS', KEYS[2]) == 1 then
    return 'purging'
end
redis.call('HSET', KEYS[1], 'env', ARGV[1], 'integration', ARGV[2], 'account', ARGV[3], 'creds', ARGV[4],
    'sync', ARGV[5], 'status', 'NEW_CONNECTION', 'syncState', 'initial-sync-in-progress', 'createdAt', ARGV[6])
return 'ok'
