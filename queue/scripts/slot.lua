-- Take a delivery slot of a subscription before an attempt: at most maxConcurrency attempts in flight across
-- every worker, and at most rateLimitPerSecond started per second. A slot is leased: a dead worker's slot frees
-- itself when the lease ends. Released with ZREM when the attempt ends.
-- KEYS[1] the subscription's slots zset (delivery id -> lease end ms), KEYS[2] its rate counter prefix
-- ARGV[1] delivery id, ARGV[2] now ms, ARGV[3] lease end ms, ARGV[4] max concurrency, ARGV[5] rate per second
-- (0: none)
-- Returns 0 when granted, else how many ms to wait before asking again.
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 250
end
local rate = tonumber(ARGV[5])
if rate > 0 then
  local second = math.floor(now / 1000)
  local counter = KEYS[2] .. second
  local n = redis.call('INCR', counter)
  if n == 1 then
    redis.call('PEXPIRE', counter, 2000)
  end
  if n > rate then
    return (second + 1) * 1000 - now
  end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) - now)
return 0
