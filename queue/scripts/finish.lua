-- Record the outcome of one delivery attempt.
-- KEYS[1] due zset, KEYS[2] dead-letter zset
-- ARGV[1] delivery id, ARGV[2] "ok" | "retry" | "dead" | "drop", ARGV[3] next due ms (retry),
-- ARGV[4] now ms, ARGV[5] delivery key prefix, ARGV[6] attempts made, ARGV[7] last status, ARGV[8] last error,
-- ARGV[9] dead-letter retention seconds, ARGV[10] max dead letters kept
local key = ARGV[5] .. ARGV[1]
local outcome = ARGV[2]
if outcome == 'ok' or outcome == 'drop' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', key)
  return 1
end
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('HSET', key, 'attempt', ARGV[6], 'lastStatus', ARGV[7], 'lastError', ARGV[8], 'lastAttemptAt', ARGV[4])
if outcome == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
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
