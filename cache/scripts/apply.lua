-- Apply one change event to the cached record: last writer wins per field, by occurredAt.
-- KEYS[1] record hash (field -> JSON value), KEYS[2] version hash (field -> occurredAt ms, "_deleted" tombstone)
-- ARGV[1] occurredAt ms, ARGV[2] action, ARGV[3] object id, ARGV[4..] field, JSON value pairs
-- Returns {state, changed-field list, record as a flat field/value list}; state is
-- "applied", "deleted", or "ignored" (a stale delete, or an update to a deleted record).
-- Equal timestamps on one field are broken by the value, so any arrival order ends in the same state.
local at = tonumber(ARGV[1])
local action = ARGV[2]
local tomb = tonumber(redis.call('HGET', KEYS[2], '_deleted') or '')
if action == 'deleted' then
  if tomb ~= nil and at <= tomb then
    return {'ignored', {}, {}}
  end
  redis.call('HSET', KEYS[2], '_deleted', at)
  return {'deleted', {}, redis.call('HGETALL', KEYS[1])}
end
if tomb ~= nil then
  -- a deletion sticks: only a later creation or restore brings the record back
  if (action ~= 'created' and action ~= 'restored') or at <= tomb then
    return {'ignored', {}, {}}
  end
  redis.call('HDEL', KEYS[2], '_deleted')
end
redis.call('HSET', KEYS[1], 'id', cjson.encode(ARGV[3]))
local changed = {}
for i = 4, #ARGV - 1, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  local seen = tonumber(redis.call('HGET', KEYS[2], f) or '')
  local win = seen == nil or at > seen
  if not win and at == seen then
    local cur = redis.call('HGET', KEYS[1], f)
    win = cur == false or v > cur
  end
  if win then
    redis.call('HSET', KEYS[1], f, v)
    redis.call('HSET', KEYS[2], f, at)
    changed[#changed + 1] = f
  end
end
return {'applied', changed, redis.call('HGETALL', KEYS[1])}
