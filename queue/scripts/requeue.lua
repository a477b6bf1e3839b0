-- Queue events again for one subscription, with their original webhook-id (replay and redeliver).
-- KEYS[1] due zset, KEYS[2] dead-letter zset, KEYS[3] the environment's event index of this partition
-- ARGV[1] "one" | "range", ARGV[2] delivery key prefix, ARGV[3] event key prefix (the event's hash: body "b",
-- delivery states "s:<subscriptionId>", settle.lua), ARGV[4] unused, ARGV[5] environmentId, ARGV[6] subscriptionId, ARGV[7] now ms, then
--   one:   ARGV[8] eventId, ARGV[9] webhookId. Returns 1 when queued (or already pending), 0 when the body expired.
--   range: ARGV[8] since ms, ARGV[9] until ms, ARGV[10] "1" = only dead deliveries, ARGV[11] offset in the
--          range, ARGV[12] index entries to examine at most, ARGV[13] events to queue at most.
--          Only events fanned out to the subscription (a state field in their hash) are queued; the
--          webhook-id is the one stored there. Returns {queued, examined, more (1: stopped before the range's end)}.
-- A delivery already pending (scheduled or in flight) is left alone and counted as queued; a missing
-- (delivered, dropped) or dead one is written fresh: attempt 0, due now, out of the dead letters.
local dprefix, eprefix, env, sub, now = ARGV[2], ARGV[3], ARGV[5], ARGV[6], ARGV[7]

local function str(v)
  if type(v) == 'string' then return v end
  return ''
end

local function requeue(event, wid)
  local ekey = eprefix .. event
  local body = redis.call('HGET', ekey, 'b')
  if not body then return false end
  local dkey = dprefix .. wid
  if redis.call('HGET', dkey, 'state') == 'pending' then return true end
  local ok, doc = pcall(cjson.decode, body)
  local etype, conn = '', ''
  if ok and type(doc) == 'table' then
    etype = str(doc.type)
    if type(doc.data) == 'table' then conn = str(doc.data.connectionId) end
  end
  redis.call('DEL', dkey)
  redis.call('HSET', dkey, 'event', event, 'sub', sub, 'env', env, 'conn', conn, 'type', etype, 'attempt', 0,
    'created', now, 'state', 'pending')
  redis.call('ZREM', KEYS[2], wid)
  redis.call('ZADD', KEYS[1], now, wid)
  redis.call('HSET', ekey, 's:' .. sub, 'pending:' .. wid)
  return true
end

if ARGV[1] == 'one' then
  if requeue(ARGV[8], ARGV[9]) then return 1 end
  return 0
end

local only_dead = ARGV[10] == '1'
local examine, budget = tonumber(ARGV[12]), tonumber(ARGV[13])
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[8], ARGV[9], 'LIMIT', tonumber(ARGV[11]), examine)
local queued, examined = 0, 0
for _, event in ipairs(ids) do
  if queued >= budget then break end
  examined = examined + 1
  local v = redis.call('HGET', eprefix .. event, 's:' .. sub)
  if v then
    local state, wid = string.match(v, '^([^:]*):(.+)$')
    if wid and (not only_dead or state == 'dead') and requeue(event, wid) then
      queued = queued + 1
    end
  end
end
local more = 0
if examined < #ids or #ids == examine then more = 1 end
return {queued, examined, more}
