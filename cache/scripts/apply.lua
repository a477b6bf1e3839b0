-- Apply one change event to the cached record, atomically: last writer wins per field (by occurredAt),
-- tombstones, the type's indexes, its live-id set, associations, merges and staleness (cache/README.md).
--
-- Every key touched carries the connection's hash tag: KEYS[1..3] are this record's keys, and every other key
-- (indexes, association sets, merged losers' records) is built here as 'wh:<kind>:' .. tag .. ':…' from ARGV[4],
-- the same tag, so the whole call stays within one Redis Cluster slot.
-- KEYS[1] wh:obj:{c:C}:<type>:<id> (field -> JSON value), KEYS[2] wh:ver:{c:C}:<type>:<id> (field -> occurredAt ms;
--   "_deleted" tombstone ms, "_merged" winner id, "_stale" ms, "_ix.<field>" number index score kept while deleted),
-- KEYS[3] wh:ids:{c:C}:<type> (live ids, score 0)
-- ARGV[1] occurredAt ms, ARGV[2] action, ARGV[3] object id, ARGV[4] tag "{c:C}", ARGV[5] type, ARGV[6] thin "1"|"0",
-- then n, n × (indexed field, kind "t"|"n")            -- every indexed field of the type
-- then a, a × (reference field, parent type, list)     -- associations of this type as a child, parent type synced
-- then l, l × list                                     -- association lists of this type as a parent, child synced
-- then m, m × loser id                                 -- "merged": the records merged into this one
-- then d, d × (field, parent id)                       -- detach: a removed association writes the field only
--                                                         while it holds that parent or nothing (README)
-- then the fields: (field, JSON value, number index value or "") triples to the end.
-- Returns {state, changed fields, record (flat field/JSON list, association lists as JSON arrays),
--          previous (flat field/JSON list of changed fields that had a value), existed before 0|1};
-- state: "applied", "deleted", or "ignored" (a stale delete, or a write to a deleted record).
-- Equal timestamps on one field are broken by the value, so any arrival order ends in the same state.
local at = tonumber(ARGV[1])
local action, id, tag, otype, thin = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1'
local base = ':' .. tag .. ':' .. otype .. ':'

local i = 7
local indexed = {}
for _ = 1, tonumber(ARGV[i]) do
  indexed[ARGV[i + 1]] = ARGV[i + 2]
  i = i + 2
end
i = i + 1
local assocs = {}
for _ = 1, tonumber(ARGV[i]) do
  assocs[ARGV[i + 1]] = {ARGV[i + 2], ARGV[i + 3]}
  i = i + 3
end
i = i + 1
local lists = {}
for _ = 1, tonumber(ARGV[i]) do
  lists[#lists + 1] = ARGV[i + 1]
  i = i + 1
end
i = i + 1
local losers = {}
for _ = 1, tonumber(ARGV[i]) do
  losers[#losers + 1] = ARGV[i + 1]
  i = i + 1
end
i = i + 1
local detach = {}
for _ = 1, tonumber(ARGV[i]) do
  detach[ARGV[i + 1]] = ARGV[i + 2]
  i = i + 2
end
local first_field = i + 1

-- ASCII-only lower-casing, done here so a restore can recompute an entry from the stored value (string.lower and
-- %u follow the C locale; an explicit [A-Z] never touches bytes >= 0x80, so UTF-8 text is left as it is).
local function lower(s)
  return (string.gsub(s, '[A-Z]', function(c) return string.char(string.byte(c) + 32) end))
end

-- The text a stored JSON value indexes and links by: strings as themselves, numbers and booleans as their
-- JSON text; null, objects and arrays have none.
local function scalar(json)
  if json == nil or json == false or json == '' then return nil end
  local c = string.sub(json, 1, 1)
  if c == '"' then
    local ok, v = pcall(cjson.decode, json)
    if ok and type(v) == 'string' then return v end
    return nil
  end
  if c == '{' or c == '[' or json == 'null' then return nil end
  return json
end

local function ixt(field) return 'wh:ixt' .. base .. field end
local function ixn(field) return 'wh:ixn' .. base .. field end
local function aset(parent, pid, list) return 'wh:as:' .. tag .. ':' .. parent .. ':' .. pid .. ':' .. list end

local function text_del(field, json, rid)
  local s = scalar(json)
  if s ~= nil then redis.call('ZREM', ixt(field), lower(s) .. '\0' .. rid) end
end
local function text_add(field, json, rid)
  local s = scalar(json)
  if s ~= nil then redis.call('ZADD', ixt(field), 0, lower(s) .. '\0' .. rid) end
end

-- Takes a live record out of ids, indexes and its parents' lists (delete, merge loser); number scores are kept in
-- its version hash so a restore can put them back.
local function unlink(obj, ver, rid, child_assocs)
  redis.call('ZREM', KEYS[3], rid)
  for f, kind in pairs(indexed) do
    if kind == 't' then
      text_del(f, redis.call('HGET', obj, f), rid)
    else
      local score = redis.call('ZSCORE', ixn(f), rid)
      if score then
        redis.call('HSET', ver, '_ix.' .. f, score)
        redis.call('ZREM', ixn(f), rid)
      end
    end
  end
  for f, a in pairs(child_assocs) do
    local p = scalar(redis.call('HGET', obj, f))
    if p ~= nil then redis.call('SREM', aset(a[1], p, a[2]), rid) end
  end
end

-- The reverse, for a restore or a creation after a delete.
local function relink(obj, ver, rid)
  redis.call('ZADD', KEYS[3], 0, rid)
  for f, kind in pairs(indexed) do
    if kind == 't' then
      text_add(f, redis.call('HGET', obj, f), rid)
    else
      local score = redis.call('HGET', ver, '_ix.' .. f)
      if score then
        redis.call('ZADD', ixn(f), score, rid)
        redis.call('HDEL', ver, '_ix.' .. f)
      end
    end
  end
  for f, a in pairs(assocs) do
    local p = scalar(redis.call('HGET', obj, f))
    if p ~= nil then redis.call('SADD', aset(a[1], p, a[2]), rid) end
  end
end

local function live(obj, ver)
  return redis.call('HEXISTS', obj, 'id') == 1 and redis.call('HEXISTS', ver, '_deleted') == 0
end

-- The record after the change, with its association lists: at most LIST_MAX ids each (beyond that, LIST_MAX of
-- them taken by SRANDMEMBER, sorted, and "<list>Truncated"; the read API shows the first 1000 by id), so a parent of
-- 50 000 children costs neither Redis time nor megabytes of webhook body on every change.
local LIST_MAX = 1000
local function record()
  local flat = redis.call('HGETALL', KEYS[1])
  for _, list in ipairs(lists) do
    local key = aset(otype, id, list)
    local n = redis.call('SCARD', key)
    local ids = n <= LIST_MAX and redis.call('SMEMBERS', key) or redis.call('SRANDMEMBER', key, LIST_MAX)
    table.sort(ids)
    flat[#flat + 1] = list
    flat[#flat + 1] = #ids == 0 and '[]' or cjson.encode(ids)
    if n > LIST_MAX then
      flat[#flat + 1] = list .. 'Truncated'
      flat[#flat + 1] = 'true'
    end
  end
  return flat
end

local existed = live(KEYS[1], KEYS[2])
local tomb = tonumber(redis.call('HGET', KEYS[2], '_deleted') or '')

if action == 'deleted' then
  if tomb ~= nil and at <= tomb then
    return {'ignored', {}, {}, {}, existed and 1 or 0}
  end
  if existed then unlink(KEYS[1], KEYS[2], id, assocs) end
  redis.call('HSET', KEYS[2], '_deleted', at)
  return {'deleted', {}, record(), {}, existed and 1 or 0}
end

if tomb ~= nil then
  -- a deletion sticks: only a later creation or restore brings the record back
  if (action ~= 'created' and action ~= 'restored') or at <= tomb then
    return {'ignored', {}, {}, {}, 0}
  end
  redis.call('HDEL', KEYS[2], '_deleted', '_merged')
  if redis.call('HEXISTS', KEYS[1], 'id') == 1 then relink(KEYS[1], KEYS[2], id) end
end

-- The winner of a merge keeps its own fields and id; each loser gets a tombstone at this time and "_merged"
-- naming the winner (reads redirect), and leaves ids, indexes and its parents' lists. Its own children stay in
-- its association sets: their reference fields still name the loser until the CRM reports them re-parented.
if action == 'merged' then
  for _, lid in ipairs(losers) do
    if lid ~= id then
      local lobj, lver = 'wh:obj' .. base .. lid, 'wh:ver' .. base .. lid
      local ltomb = tonumber(redis.call('HGET', lver, '_deleted') or '')
      if ltomb == nil or at > ltomb then
        if live(lobj, lver) then unlink(lobj, lver, lid, assocs) end
        redis.call('HSET', lver, '_deleted', at, '_merged', id)
      end
    end
  end
end

if not live(KEYS[1], KEYS[2]) then
  redis.call('HSET', KEYS[1], 'id', cjson.encode(id))
  redis.call('ZADD', KEYS[3], 0, id)
end

local changed, previous = {}, {}
if thin then
  -- ids only: the fields are not touched; the record is stale until a non-thin write at or after this time
  local stale = tonumber(redis.call('HGET', KEYS[2], '_stale') or '')
  if stale == nil or at > stale then redis.call('HSET', KEYS[2], '_stale', at) end
else
  local stale = tonumber(redis.call('HGET', KEYS[2], '_stale') or '')
  if stale ~= nil and at >= stale then redis.call('HDEL', KEYS[2], '_stale') end
  for k = first_field, #ARGV - 2, 3 do
    local f, v, num = ARGV[k], ARGV[k + 1], ARGV[k + 2]
    local seen = tonumber(redis.call('HGET', KEYS[2], f) or '')
    local cur = redis.call('HGET', KEYS[1], f)
    local win = seen == nil or at > seen
    if not win and at == seen then
      win = cur == false or v > cur
    end
    if win and detach[f] ~= nil then
      -- a removed association clears the reference only while it names that parent: a child since moved to
      -- another parent keeps it (and the field's version, so a late write of the old parent is judged as before)
      local p = scalar(cur)
      win = p == nil or p == detach[f]
    end
    if win then
      redis.call('HSET', KEYS[2], f, at)
      if cur ~= v then
        redis.call('HSET', KEYS[1], f, v)
        changed[#changed + 1] = f
        if cur then
          previous[#previous + 1] = f
          previous[#previous + 1] = cur
        end
        local kind = indexed[f]
        if kind == 't' then
          text_del(f, cur, id)
          text_add(f, v, id)
        elseif kind == 'n' then
          if num ~= '' then
            redis.call('ZADD', ixn(f), num, id)
          else
            redis.call('ZREM', ixn(f), id)
          end
        end
        local a = assocs[f]
        if a ~= nil then
          local p0, p1 = scalar(cur), scalar(v)
          if p0 ~= p1 then
            if p0 ~= nil then redis.call('SREM', aset(a[1], p0, a[2]), id) end
            if p1 ~= nil then redis.call('SADD', aset(a[1], p1, a[2]), id) end
          end
        end
      end
    end
  end
end
return {'applied', changed, record(), previous, existed and 1 or 0}
