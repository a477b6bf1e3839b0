-- Queue events again for one subscription, with their original webhook-id (replay and redeliver).
-- KEYS[1] due zset, KEYS[2] dead-letter zset, KEYS[3] the environment's event index of this partition
-- ARGV[1] "one" | "range", ARGV[2] delivery key prefix, ARGV[3] event bucket key prefix (an event's record is
-- "<header JSON>\n<stored body>", its header's "s" holding the delivery states, queue/evrec.h), ARGV[4] bucket span ms,
-- ARGV[5] environmentId, ARGV[6] subscriptionId, ARGV[7] now ms, then
--   one:   ARGV[8] eventId, ARGV[9] webhookId. Returns 1 when queued (or already pending), 0 when the event expired.
--   range: ARGV[8] since ms, ARGV[9] until ms, ARGV[10] "1" = only dead deliveries, ARGV[11] offset in the
--          range, ARGV[12] index entries to examine at most, ARGV[13] events to queue at most.
--          Only events fanned out to the subscription (a state in their record) are queued; the
--          webhook-id is the one stored there. Returns {queued, examined, more (1: stopped before the range's end)}.
-- A delivery already pending (scheduled or in flight) is left alone and counted as queued; a missing
-- (delivered, dropped) or dead one is written fresh: attempt 0, due now, out of the dead letters.
local dprefix, bprefix, span, env, sub, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]

local function str(v)
  if type(v) == 'string' then return v end
  return ''
end

-- The event's record split into its decoded header and its body, or nil when it is gone.
local function read(event, at)
  local bkey = bprefix .. math.floor(tonumber(at) / span)
  local rec = redis.call('HGET', bkey, event)
  local nl = rec and string.find(rec, '\n', 1, true)
  if not nl then return nil end
  local ok, h = pcall(cjson.decode, string.sub(rec, 1, nl - 1))
  if not ok or type(h) ~= 'table' then h = {} end
  if type(h.s) ~= 'table' then h.s = {} end
  return h, string.sub(rec, nl + 1), bkey
end

local function requeue(event, at, wid, h, body, bkey)
  local dkey = dprefix .. wid
  if redis.call('HGET', dkey, 'state') == 'pending' then return true end
  -- the task's type and connection are for inspection only (claim.lua does not need them); a compressed body
  -- (queue/evrec.h: it does not start with '{') leaves them empty
  local ok, doc = false, nil
  if string.sub(body, 1, 1) == '{' then ok, doc = pcall(cjson.decode, body) end
  local etype, conn = '', ''
  if ok and type(doc) == 'table' then
    etype = str(doc.type)
    if type(doc.data) == 'table' then conn = str(doc.data.connectionId) end
  end
  redis.call('DEL', dkey)
  redis.call('HSET', dkey, 'event', event, 'at', at, 'sub', sub, 'env', env, 'conn', conn, 'type', etype, 'attempt', 0,
    'created', now, 'state', 'pending')
  redis.call('ZREM', KEYS[2], wid)
  redis.call('ZADD', KEYS[1], now, wid)
  h.s[sub] = 'pending:' .. wid
  local rec = redis.call('HGET', bkey, event)
  local nl = string.find(rec, '\n', 1, true)
  redis.call('HSET', bkey, event, cjson.encode(h) .. string.sub(rec, nl))
  return true
end

if ARGV[1] == 'one' then
  local at = redis.call('ZSCORE', KEYS[3], ARGV[8])
  if not at then return 0 end
  local h, body, bkey = read(ARGV[8], at)
  if not h then return 0 end
  requeue(ARGV[8], at, ARGV[9], h, body, bkey)
  return 1
end

local only_dead = ARGV[10] == '1'
local examine, budget = tonumber(ARGV[12]), tonumber(ARGV[13])
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[8], ARGV[9], 'WITHSCORES', 'LIMIT', tonumber(ARGV[11]), examine)
local queued, examined = 0, 0
for k = 1, #ids, 2 do
  if queued >= budget then break end
  examined = examined + 1
  local event, at = ids[k], ids[k + 1]
  local h, body, bkey = read(event, at)
  local v = h and h.s[sub]
  if type(v) == 'string' then
    local state, wid = string.match(v, '^([^:]*):(.+)$')
    if wid and (not only_dead or state == 'dead') and requeue(event, at, wid, h, body, bkey) then
      queued = queued + 1
    end
  end
end
local more = 0
if examined < #ids / 2 or #ids / 2 == examine then more = 1 end
return {queued, examined, more}
