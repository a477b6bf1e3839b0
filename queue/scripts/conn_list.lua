-- Lists an environment's connections without their credentials (which never need to leave Redis here).
-- Ids whose hash vanished, or that name another environment, are skipped. Key names follow queue/keys.h.
--
-- KEYS[1] wh:env:{e:<env>}:conns
-- ARGV[1] environmentId  ARGV[2] most rows returned
-- Returns an array of rows {connectionId, integration, account, sync, status, syncState, createdAt}
-- (missing fields as ""), unordered: the caller sorts.
local max = tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if #out >= max then
        break
    end
    local f = redis.call('HMGET', 'wh:conn:{c:' .. id .. '}', 'env', 'integration', 'account', 'sync', 'status',
        'syncState', 'createdAt')
    if f[1] == ARGV[1] then
        out[#out + 1] = {id, f[2] or '', f[3] or '', f[4] or '', f[5] or '', f[6] or '', f[7] or ''}
    end
end
return out
