-- Record the outcome of one delivery attempt: the delivery task, its event's delivery state and its attempt log.
-- KEYS[1] due zset, KEYS[2] dead-letter zset
-- ARGV[1] delivery id, ARGV[2] "ok" | "retry" | "dead" | "drop" | "defer", ARGV[3] next due ms (retry, defer),
-- ARGV[4] now ms, ARGV[5] delivery key prefix, ARGV[6] attempts made, ARGV[7] last status, ARGV[8] last error,
-- ARGV[9] dead-letter retention seconds, ARGV[10] max dead letters kept, ARGV[11] event delivery-state key prefix,
-- ARGV[12] attempt log key prefix, ARGV[13] event retention seconds, ARGV[14] the attempt's record (JSON text;
-- "" when no attempt was made: a hand-back at shutdown, a drop), ARGV[15] attempt records kept per event
local key = ARGV[5] .. ARGV[1]
local outcome = ARGV[2]
if outcome == 'defer' then
  -- no attempt was made (the subscription's slots or rate were used up): only the due time moves
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  end
  return 1
end
local d = redis.call('HMGET', key, 'event', 'sub', 'ord')
local event, sub, ord = d[1], d[2], d[3]
-- an ordered delivery that is over (delivered, dead, dropped) lets the next event of its object go
if ord and (outcome == 'ok' or outcome == 'drop' or outcome == 'dead') then
  redis.call('ZREM', ord, ARGV[1])
end

if event and ARGV[14] ~= '' then
  local log = ARGV[12] .. event
  redis.call('RPUSH', log, ARGV[14])
  redis.call('LTRIM', log, -tonumber(ARGV[15]), -1)
  redis.call('EXPIRE', log, ARGV[13])
end
local function set_state(state)
  if event and sub then
    local states = ARGV[11] .. event
    if redis.call('EXISTS', states) == 1 then
      redis.call('HSET', states, sub, state .. ':' .. ARGV[1])
    end
  end
end

if outcome == 'ok' or outcome == 'drop' then
  set_state(outcome == 'ok' and 'delivered' or 'dropped')
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', key)
  return 1
end
if not event then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('HSET', key, 'attempt', ARGV[6], 'lastStatus', ARGV[7], 'lastError', ARGV[8], 'lastAttemptAt', ARGV[4])
if outcome == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
set_state('dead')
redis.call('HSET', key, 'state', 'dead')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', key, ARGV[9])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[10])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', ARGV[5] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
return 1
