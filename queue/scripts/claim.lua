-- Lease deliveries that are due (new retries, or leases that expired with their worker).
-- KEYS[1] due zset
-- ARGV[1] now ms, ARGV[2] lease-until ms, ARGV[3] max count, ARGV[4] delivery key prefix, ARGV[5] event bucket key
-- prefix, ARGV[7] bucket span ms
-- Returns a flat list: id, attempt, sub, env, conn, type, event id, body (false when the body expired).
-- A delivery of an ordered subscription starts only when it heads its object's queue (earliest occurredAt
-- still undelivered); otherwise it is looked at again ARGV[6] ms later. A queue that is gone (expired) holds
-- nobody back: the delivery goes.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  local d = redis.call('HMGET', ARGV[4] .. id, 'attempt', 'sub', 'env', 'conn', 'type', 'event', 'ord', 'at')
  local head = d[7] and redis.call('ZRANGE', d[7], 0, 0)[1]
  -- a head whose task is gone (cannot happen through finish.lua; defensive) must not block the queue
  while d[7] and head and head ~= id and redis.call('EXISTS', ARGV[4] .. head) == 0 do
    redis.call('ZREM', d[7], head)
    head = redis.call('ZRANGE', d[7], 0, 0)[1]
  end
  if d[2] == false then
    redis.call('ZREM', KEYS[1], id)
  elseif d[7] and head and head ~= id then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[6]), id)
  else
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    -- the body is the event record's part after its header line, as stored (queue/evrec.h: the worker decompresses it)
    local body = false
    if d[8] then
      local rec = redis.call('HGET', ARGV[5] .. math.floor(tonumber(d[8]) / tonumber(ARGV[7])), d[6])
      local nl = rec and string.find(rec, '\n', 1, true)
      if nl then body = string.sub(rec, nl + 1) end
    end
    out[#out + 1] = id
    for k = 1, 6 do out[#out + 1] = d[k] end
    out[#out + 1] = body
  end
end
return out
