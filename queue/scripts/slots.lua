-- A worker's slots of one subscription (dispatch/slots.c): give some back, take more, refresh the lease, and
-- take rate tokens for the current second — at most maxConcurrency slots across every holder, at most
-- rateLimitPerSecond tokens per second. A holder whose lease ended (a dead worker) loses its slots here.
-- KEYS[1] holders hash (holder -> slots), KEYS[2] holder leases zset (holder -> lease end ms),
-- KEYS[3] rate counter prefix (+ second), KEYS[4] wanting zset (holder -> ms of its last ask not fully granted)
-- ARGV[1] holder, ARGV[2] now ms, ARGV[3] lease end ms, ARGV[4] max concurrency, ARGV[5] slots wanted,
-- ARGV[6] rate per second (0: none), ARGV[7] tokens wanted, ARGV[8] slots given back
-- Returns {slots granted now, slots this holder holds now, tokens granted, the second they count for, fair share}.
-- The fair share is maxConcurrency over the workers contending for the subscription (those holding slots and those
-- that asked for some in the last WANT_MS without getting them all), rounded up: a worker holding more gives slots
-- back as its attempts end (dispatch/slots.c), so one busy worker cannot keep a cap's slots from the others.
local now = tonumber(ARGV[2])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)) do
  redis.call('HDEL', KEYS[1], dead)
  redis.call('ZREM', KEYS[2], dead)
end
local WANT_MS = 1000
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
mine = math.max(0, mine - tonumber(ARGV[8]))
-- HGETALL answers a flat list: holders, each followed by its count
local flat = redis.call('HGETALL', KEYS[1])
local total = mine
for i = 1, #flat, 2 do
  if flat[i] ~= ARGV[1] then
    total = total + tonumber(flat[i + 1])
  end
end
local grant = math.max(0, math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) - total))
mine = mine + grant
local ttl = tonumber(ARGV[3]) - now
if grant < tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[4], WANT_MS * 2)
else
  redis.call('ZREM', KEYS[4], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - WANT_MS))
if mine > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], mine)
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local tokens = 0
local rate = tonumber(ARGV[6])
if rate > 0 and tonumber(ARGV[7]) > 0 then
  local counter = KEYS[3] .. math.floor(now / 1000)
  local used = tonumber(redis.call('GET', counter) or '0')
  tokens = math.max(0, math.min(tonumber(ARGV[7]), rate - used))
  if tokens > 0 then
    redis.call('INCRBY', counter, tokens)
    redis.call('PEXPIRE', counter, 2000)
  end
end
local contenders = redis.call('HLEN', KEYS[1])
for _, h in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  if redis.call('HEXISTS', KEYS[1], h) == 0 then contenders = contenders + 1 end
end
if contenders < 1 then contenders = 1 end
local max = tonumber(ARGV[4])
return {grant, mine, tokens, math.floor(now / 1000), math.floor((max + contenders - 1) / contenders)}
