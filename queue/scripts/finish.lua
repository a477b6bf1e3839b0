-- Record the outcomes of delivery attempts of one partition (one loop turn's worth) whose task is in Redis
-- (retries, ordered deliveries, deliveries that outlasted their entry's settling): each delivery task, and its
-- event's delivery state and attempt log, kept in the event's record (queue/evrec.h) while it is retained.
-- KEYS[1] due zset, KEYS[2] dead-letter zset
-- ARGV[1] now ms, ARGV[2] delivery key prefix, ARGV[3] event bucket key prefix, ARGV[4] bucket span ms,
-- ARGV[5] dead-letter retention seconds, ARGV[6] max dead letters kept, ARGV[7] unused, ARGV[8] attempt records
-- kept per event, then per outcome 7 arguments:
--   delivery id, "ok" | "retry" | "dead" | "drop" | "defer", next due ms (retry, defer), attempts made,
--   last status, last error, the attempt's record (JSON text; "" when no attempt was made)
-- Returns the number of outcomes recorded.
local now, dprefix, bprefix, span = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local dead_ttl, dead_max, kept = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[8])
local deaths = 0

-- The event's record ("<header JSON>\n<stored body>", queue/evrec.h) gets the attempt and the subscription's new state.
-- A record that is gone (its bucket expired) is never recreated.
local function update_record(event, at, sub, id, state, record)
  if not (event and at and sub) or (state == nil and record == '') then return end
  local bkey = bprefix .. math.floor(tonumber(at) / span)
  local rec = redis.call('HGET', bkey, event)
  if not rec then return end
  local nl = string.find(rec, '\n', 1, true)
  if not nl then return end
  local ok, h = pcall(cjson.decode, string.sub(rec, 1, nl - 1))
  if not ok or type(h) ~= 'table' then return end
  if type(h.s) ~= 'table' then h.s = {} end
  if type(h.a) ~= 'table' then h.a = {} end
  if record ~= '' then
    local ok2, a = pcall(cjson.decode, record)
    if ok2 then
      h.a[#h.a + 1] = a
      while #h.a > kept do table.remove(h.a, 1) end
    end
  end
  if state then h.s[sub] = state .. ':' .. id end
  redis.call('HSET', bkey, event, cjson.encode(h) .. string.sub(rec, nl))
end

local function finish(id, outcome, next_due, attempts, status, err, record)
  local key = dprefix .. id
  if outcome == 'defer' then
    -- no attempt was made (the subscription's slots or rate were used up): only the due time moves
    if redis.call('EXISTS', key) == 1 then
      redis.call('ZADD', KEYS[1], next_due, id)
    end
    return
  end
  local d = redis.call('HMGET', key, 'event', 'sub', 'ord', 'at')
  local event, sub, ord, at = d[1], d[2], d[3], d[4]
  -- an ordered delivery that is over (delivered, dead, dropped) lets the next event of its object go
  if ord and (outcome == 'ok' or outcome == 'drop' or outcome == 'dead') then
    redis.call('ZREM', ord, id)
  end
  local function set_state(state)
    update_record(event, at, sub, id, state, record)
    record = ''
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
    update_record(event, at, sub, id, nil, record)
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
