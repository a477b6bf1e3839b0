-- Settle stream entries of one partition once their first delivery attempts are over (one loop turn's worth):
-- record each event (its record: states, first attempts, body; built by the worker), write the durable tasks of
-- what still has to happen, then acknowledge and delete the entries, all in one atomic call. Until this call an
-- entry stays pending in the consumer group, so a worker that dies before it loses nothing: the entry is reclaimed
-- and processed again. Happy path (delivered at the first attempt): one HSET per minute bucket and one ZADD per
-- environment for all of the call's events, nothing per delivery, one EXPIREAT per bucket. Every key is of
-- partition {pN}: one slot.
-- The event store is bounded two ways: by age (WHARF_EVENT_RETENTION: a bucket expires that long after its minute
-- ends; index entries older than that are trimmed) and by count (WHARF_EVENT_MAX_PER_PARTITION: past it the oldest
-- buckets are dropped whole, and the indexes trimmed below them as their environments settle again).
-- KEYS[1] stream, KEYS[2] due zset, KEYS[3] dead-letter zset, KEYS[4] poison stream, KEYS[5] the partition's
-- buckets (zset bucket -> bucket), KEYS[6] their event counts (hash bucket -> n, "total", "floor" ms)
-- ARGV[1] group, ARGV[2] delivery key prefix, ARGV[3] event bucket key prefix, ARGV[4] event index key prefix
-- (+ environmentId), ARGV[5] bucket span ms,
-- then the events: each (eventId, environmentId, receivedAt ms, record, t tasks,
--   t × (subscriptionId, webhookId, outcome, due ms, attempts made, last status, last error, connectionId, type,
--        order key, occurredAt ms)),
-- then n × (entry id to acknowledge, "1" when malformed: its raw fields are kept aside first),
-- and last (read from the end, so that the worker writes events straight after the fixed arguments): now ms,
-- lease-until ms, event retention s, dead-letter retention s, dead letters kept, poison entries kept, events kept
-- per partition at most, e (the number of events), n (the number of entries).
-- A task's outcome: dead | retry (due at due ms) | defer (not attempted; due at due ms) | lease (being attempted:
-- leased until ARGV[3]) | ordered (joins its object's queue, due now; claim.lua starts the head). Delivered and
-- dropped deliveries have no task: their state is in the record.
-- An entry's events may span several calls; it is listed (acknowledged) in the call carrying its last part, so
-- what a call acknowledges is always written.
-- Returns the number of entries this call acknowledged (not counting those another consumer settled already).
local dprefix, bprefix, iprefix, span = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local T = #ARGV
local now, lease, ttl, dead_ttl = ARGV[T - 8], ARGV[T - 7], tonumber(ARGV[T - 6]), ARGV[T - 5]
local dead_max, poison_max, cap = tonumber(ARGV[T - 4]), ARGV[T - 3], tonumber(ARGV[T - 2])
local nevents, nentries = tonumber(ARGV[T - 1]), tonumber(ARGV[T])
local first_entry = T - 8 - 2 * nentries
local oldest = tonumber(now) - ttl * 1000
local deaths, touched, added, newest = 0, {}, {}, 0

-- Records are gathered per minute bucket and index entries per environment, then written with one HSET per bucket
-- and one ZADD per environment: two commands per call, not two per event.
local buckets, indexes = {}, {}
local i = 6
for _ = 1, nevents do
  local event, env, received, record, nt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local bucket = math.floor(tonumber(received) / span)
  local b, x = buckets[bucket], indexes[env]
  if not b then
    b = {}
    buckets[bucket] = b
  end
  b[#b + 1] = event
  b[#b + 1] = record
  if not x then
    x = {}
    indexes[env] = x
  end
  x[#x + 1] = received
  x[#x + 1] = event
  i = i + 5
  for _ = 1, nt do
    local sub, wid, outcome, due, attempts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local dkey = dprefix .. wid
    if redis.call('EXISTS', dkey) == 0 then
      redis.call('HSET', dkey, 'event', event, 'at', received, 'sub', sub, 'env', env, 'conn', ARGV[i + 7],
        'type', ARGV[i + 8], 'attempt', attempts, 'created', now, 'state', outcome == 'dead' and 'dead' or 'pending')
      if tonumber(attempts) > 0 then
        redis.call('HSET', dkey, 'lastStatus', ARGV[i + 5], 'lastError', ARGV[i + 6], 'lastAttemptAt', now)
      end
      if outcome == 'dead' then
        redis.call('ZADD', KEYS[3], now, wid)
        redis.call('EXPIRE', dkey, dead_ttl)
        deaths = deaths + 1
      elseif outcome == 'ordered' then
        redis.call('HSET', dkey, 'ord', ARGV[i + 9])
        redis.call('ZADD', ARGV[i + 9], ARGV[i + 10], wid)
        redis.call('EXPIRE', ARGV[i + 9], ttl)
        redis.call('ZADD', KEYS[2], now, wid)
      elseif outcome == 'lease' then
        redis.call('ZADD', KEYS[2], lease, wid)
      else
        redis.call('ZADD', KEYS[2], due, wid)
      end
    end
    i = i + 11
  end
end

-- a command with many field/value pairs, in chunks (Lua's unpack has a stack limit); returns the sum of its replies
local function chunked(cmd, key, list)
  local n = 0
  for s = 1, #list, 1000 do
    n = n + redis.call(cmd, key, unpack(list, s, math.min(s + 999, #list)))
  end
  return n
end
for bucket, list in pairs(buckets) do
  local bkey = bprefix .. bucket
  local n = chunked('HSET', bkey, list)
  if n > 0 then added[bucket] = n end
  if bucket > newest then newest = bucket end
  redis.call('EXPIREAT', bkey, math.floor((bucket + 1) * span / 1000) + ttl)
end
for env, list in pairs(indexes) do
  chunked('ZADD', iprefix .. env, list)
  touched[iprefix .. env] = true
end

-- the store's bookkeeping: events per bucket; buckets past their retention forgotten; over the cap, the oldest
-- buckets dropped whole (never the newest one written here)
local total = 0
for b, n in pairs(added) do
  redis.call('ZADD', KEYS[5], b, b)
  redis.call('HINCRBY', KEYS[6], b, n)
  total = total + n
end
total = redis.call('HINCRBY', KEYS[6], 'total', total)
local function drop(b)
  local n = tonumber(redis.call('HGET', KEYS[6], b) or '0')
  redis.call('UNLINK', bprefix .. b)
  redis.call('ZREM', KEYS[5], b)
  redis.call('HDEL', KEYS[6], b)
  total = redis.call('HINCRBY', KEYS[6], 'total', -n)
end
for _, b in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. math.floor(oldest / span), 'LIMIT', 0, 64)) do
  drop(b)
end
local floor = tonumber(redis.call('HGET', KEYS[6], 'floor') or '0')
while total > cap do
  local b = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
  if not b or tonumber(b) >= newest then break end
  drop(b)
  floor = (tonumber(b) + 1) * span
  redis.call('HSET', KEYS[6], 'floor', floor)
end
if floor < oldest then floor = oldest end
for index in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. floor)
  redis.call('EXPIRE', index, ttl)
end

if deaths > 0 then
  local excess = redis.call('ZCARD', KEYS[3]) - dead_max
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
      redis.call('DEL', dprefix .. old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
  end
end

-- last: acknowledge (and delete) the entries whose every part is written above or in an earlier call; an entry
-- another consumer settled already is acknowledged and deleted once more, harmlessly
local ids, acked = {}, 0
for k = first_entry, T - 10, 2 do
  local id = ARGV[k]
  if ARGV[k + 1] == '1' then
    -- malformed: keep its raw fields aside (bounded) for inspection, then let it go
    local raw = redis.call('XRANGE', KEYS[1], id, id)
    if raw[1] then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', poison_max, '*', 'entry', id, 'at', now, unpack(raw[1][2]))
    end
  end
  ids[#ids + 1] = id
  if #ids == 500 or k == T - 10 then
    acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
    redis.call('XDEL', KEYS[1], unpack(ids))
    ids = {}
  end
end
return acked
