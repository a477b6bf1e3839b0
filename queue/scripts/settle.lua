-- Settle stream entries of one partition once their first delivery attempts are over (one loop turn's worth): write
-- the durable tasks of what still has to happen, keep the event store's bookkeeping, then acknowledge the entries
-- and trim the stream below the oldest still pending, all in one atomic call. The events themselves are not passed
-- here: just before this call, on the same connection, the worker writes their records (states, first attempts,
-- body) with one plain HSET and EXPIREAT per minute bucket and their index entries with one ZADD per environment
-- (dispatch/settle.h), so whatever this call acknowledges is recorded, and no kilobyte-sized record is copied into
-- Lua. An event delivered at its first attempt costs this script nothing; a failed or waiting delivery costs one
-- task. Until this call an entry stays pending in the consumer group, so a worker that dies before it loses nothing:
-- the entry is reclaimed and processed again, and its records overwritten whole. Every key is of partition {pN}: one
-- slot.
-- The event store is bounded two ways: by age (WHARF_EVENT_RETENTION: a bucket expires that long after its minute
-- ends; index entries older than that are trimmed) and by count (WHARF_EVENT_MAX_PER_PARTITION: past it the oldest
-- buckets are dropped whole, and the indexes trimmed below them as their environments settle again). A bucket's
-- count is the events settled into it: an entry processed twice (its worker died between the HSET and this call)
-- counts twice, which can only drop a bucket early, never keep one past the cap.
-- KEYS[1] stream, KEYS[2] due zset, KEYS[3] dead-letter zset, KEYS[4] poison stream, KEYS[5] the partition's
-- buckets (zset bucket -> bucket), KEYS[6] their event counts (hash bucket -> n, "total", "floor" ms)
-- ARGV[1] group, ARGV[2] delivery key prefix, ARGV[3] event bucket key prefix, ARGV[4] event index key prefix
-- (+ environmentId), ARGV[5] bucket span ms,
-- then t tasks: each (eventId, environmentId, receivedAt ms, subscriptionId, webhookId, outcome, due ms, attempts
--   made, last status, last error, connectionId, type, order key, occurredAt ms),
-- then b × (bucket, events written into it), x × (environmentId whose index was written),
-- n × (entry id to acknowledge, "1" when malformed: its raw fields are kept aside first),
-- and last (read from the end): now ms, lease-until ms, event retention s, dead-letter retention s, dead letters
-- kept, poison entries kept, events kept per partition at most, b, x, t, n.
-- A task's outcome: dead | retry (due at due ms) | defer (not attempted; due at due ms) | lease (being attempted:
-- leased until lease-until ms) | ordered (joins its object's queue, due now; claim.lua starts the head). Delivered and
-- dropped deliveries have no task: their state is in the record.
-- An entry's events may span several calls; it is listed (acknowledged) in the call carrying its last part, so
-- what a call acknowledges is always written.
-- Returns the number of entries this call acknowledged (not counting those another consumer settled already).
local dprefix, bprefix, iprefix, span = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local T = #ARGV
local now, lease, ttl, dead_ttl = ARGV[T - 10], ARGV[T - 9], tonumber(ARGV[T - 8]), ARGV[T - 7]
local dead_max, poison_max, cap = tonumber(ARGV[T - 6]), ARGV[T - 5], tonumber(ARGV[T - 4])
local nbuckets, nindexes = tonumber(ARGV[T - 3]), tonumber(ARGV[T - 2])
local ntasks, nentries = tonumber(ARGV[T - 1]), tonumber(ARGV[T])
local first_entry = T - 10 - 2 * nentries
local first_index = first_entry - nindexes
local first_bucket = first_index - 2 * nbuckets
local oldest = tonumber(now) - ttl * 1000
local deaths, added, newest = 0, {}, 0

-- A task needs its event's record (a retry or a replay sends the body kept there): if one is missing (its HSET
-- failed: a memory limit reached between it and this call, a key of the wrong type), nothing is written and
-- nothing acknowledged, and the entries are processed again. Checked only for events with tasks, before any write,
-- and only within retention (an event received longer ago than that has no record to keep: its bucket expired as
-- it was written, and its retries end "event body expired", as before).
local i = 6
local now_s = math.floor(tonumber(now) / 1000)
for _ = 1, ntasks do
  local bucket = math.floor(tonumber(ARGV[i + 2]) / span)
  if math.floor((bucket + 1) * span / 1000) + ttl > now_s and redis.call('HEXISTS', bprefix .. bucket, ARGV[i]) == 0 then
    return redis.error_reply('ERR settle: the record of event ' .. ARGV[i] .. ' is missing; nothing acknowledged')
  end
  i = i + 14
end
i = 6
for _ = 1, ntasks do
  local event, env, received, sub, wid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local outcome, due, attempts = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local dkey = dprefix .. wid
  if redis.call('EXISTS', dkey) == 0 then
    redis.call('HSET', dkey, 'event', event, 'at', received, 'sub', sub, 'env', env, 'conn', ARGV[i + 10],
      'type', ARGV[i + 11], 'attempt', attempts, 'created', now, 'state', outcome == 'dead' and 'dead' or 'pending')
    if tonumber(attempts) > 0 then
      redis.call('HSET', dkey, 'lastStatus', ARGV[i + 8], 'lastError', ARGV[i + 9], 'lastAttemptAt', now)
    end
    if outcome == 'dead' then
      redis.call('ZADD', KEYS[3], now, wid)
      redis.call('EXPIRE', dkey, dead_ttl)
      deaths = deaths + 1
    elseif outcome == 'ordered' then
      redis.call('HSET', dkey, 'ord', ARGV[i + 12])
      redis.call('ZADD', ARGV[i + 12], ARGV[i + 13], wid)
      redis.call('EXPIRE', ARGV[i + 12], ttl)
      redis.call('ZADD', KEYS[2], now, wid)
    elseif outcome == 'lease' then
      redis.call('ZADD', KEYS[2], lease, wid)
    else
      redis.call('ZADD', KEYS[2], due, wid)
    end
  end
  i = i + 14
end
for k = first_bucket, first_index - 1, 2 do
  local b = tonumber(ARGV[k])
  added[b] = tonumber(ARGV[k + 1])
  if b > newest then newest = b end
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
for k = first_index, first_entry - 1 do
  local index = iprefix .. ARGV[k]
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

-- last: acknowledge the entries whose every part is written above or in an earlier call (an entry another consumer
-- settled already is acknowledged once more, harmlessly), then trim the stream below its oldest pending entry.
-- Entries are never deleted one by one (XDEL rewrites a node's listpack per id: 3 µs each, bench/README.md): the
-- stream is cut from the front instead, whole nodes at a time while entries are pending ("~"), exactly once none is
-- (so an idle partition's stream is empty). Cutting only from the front keeps the group's lag valid (Redis 7 reports
-- it as NULL once an entry after the group's read position was deleted): lag + pending is the backlog (KEDA). An
-- acknowledged entry can outlive its settling while an older one is pending: at most WHARF_RECLAIM_IDLE, after
-- which the older one is reclaimed and settled in turn.
local ids, acked = {}, 0
for k = first_entry, T - 12, 2 do
  local id = ARGV[k]
  if ARGV[k + 1] == '1' then
    -- malformed: keep its raw fields aside (bounded) for inspection, then let it go
    local raw = redis.call('XRANGE', KEYS[1], id, id)
    if raw[1] then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', poison_max, '*', 'entry', id, 'at', now, unpack(raw[1][2]))
    end
  end
  ids[#ids + 1] = id
  if #ids == 500 or k == T - 12 then
    acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
    ids = {}
  end
end
if nentries > 0 then
  local oldest_pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1)[1]
  if oldest_pending then
    redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest_pending[1])
  else
    -- nothing pending: everything up to the group's read position is settled
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
      local name, last
      for k = 1, #g, 2 do
        if g[k] == 'name' then name = g[k + 1] elseif g[k] == 'last-delivered-id' then last = g[k + 1] end
      end
      if name == ARGV[1] and last then
        local ms, seq = string.match(last, '^(%d+)-(%d+)$')
        if ms then redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)) end
      end
    end
  end
end
return acked
