-- Record the outcomes of delivery attempts of one partition (one loop turn's worth): each delivery task, its
-- event's delivery state and its attempt log.
-- KEYS[1] due zset, KEYS[2] dead-letter zset
-- ARGV[1] now ms, ARGV[2] delivery key prefix, ARGV[3] event delivery-state key prefix, ARGV[4] attempt log key
-- prefix, ARGV[5] dead-letter retention seconds, ARGV[6] max dead letters kept, ARGV[7] event retention seconds,
-- ARGV[8] attempt records kept per event, then per outcome 7 arguments:
--   delivery id, "ok" | "retry" | "dead" | "drop" | "defer", next due ms (retry, defer), attempts made,
--   last status, last error, the attempt's record (JSON text; "" when no attempt was made)
-- Returns the number of outcomes recorded.
local now, dprefix, sprefix, aprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local dead_ttl, dead_max, ttl, kept = ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local deaths = 0

local function finish(id, outcome, next_due, attempts, status, err, record)
  local key = dprefix .. id
  if outcome == 'defer' then
    -- no attempt was made (the subscription's slots or rate were used up): only the due time moves
    if redis.call('EXISTS', key) == 1 then
      redis.call('ZADD', KEYS[1], next_due, id)
    end
    return
  end
  local d = redis.call('HMGET', key, 'event', 'sub', 'ord')
  local event, sub, ord = d[1], d[2], d[3]
  -- an ordered delivery that is over (delivered, dead, dropped) lets the next event of its object go
  if ord and (outcome == 'ok' or outcome == 'drop' or outcome == 'dead') then
    redis.call('ZREM', ord, id)
  end
  if event and record ~= '' then
    local log = aprefix .. event
    redis.call('RPUSH', log, record)
    redis.call('LTRIM', log, -kept, -1)
    redis.call('EXPIRE', log, ttl)
  end
  local function set_state(state)
    if event and sub then
      local states = sprefix .. event
      if redis.call('EXISTS', states) == 1 then
        redis.call('HSET', states, sub, state .. ':' .. id)
      end
    end
  end
  if outcome == 'ok' or outcome == 'drop' then
    set_state(outcome == 'ok' and 'delivered' or 'dropped')
    redis.call('ZREM', KEYS[1], id)
    redis.call('DEL', key)
    return
  end
  if not event then
    redis.call('ZREM', KEYS[1], id)
    return
  end
  redis.call('HSET', key, 'attempt', attempts, 'lastStatus', status, 'lastError', err, 'lastAttemptAt', now)
  if outcome == 'retry' then
    redis.call('ZADD', KEYS[1], next_due, id)
    return
  end
  set_state('dead')
  redis.call('HSET', key, 'state', 'dead')
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('EXPIRE', key, dead_ttl)
  deaths = deaths + 1
end

local n = 0
for i = 9, #ARGV - 6, 7 do
  finish(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
  n = n + 1
end
if deaths > 0 then
  local excess = redis.call('ZCARD', KEYS[2]) - dead_max
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
      redis.call('DEL', dprefix .. old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  end
end
return n
