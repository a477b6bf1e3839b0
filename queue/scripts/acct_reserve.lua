-- The second step of creating a connection with an external account: its entry in the app-level index (what
-- routes the provider's app-level webhooks to it), within the per-account cap. One key, its own slot.
--
-- KEYS[1] wh:acct:<integration>:<account>
-- ARGV[1] connectionId  ARGV[2] index value {"env":…,"creds":…}  ARGV[3] connections per account cap
-- Returns "member" (an entry under this id exists: nothing written), "account_limit" or "reserved".
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
    return 'member'
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
    return 'account_limit'
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'reserved'
