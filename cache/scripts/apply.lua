-- Apply one change event to the cached record, atomically: last writer wins per field (by occurredAt),
-- tombstones, the type's indexes, its live-id set, associations, merges and staleness (cache/README.md).
--
-- Every key touched carries the connection's hash tag: KEYS[1..3] are this record's keys, and every other key
-- (indexes, association sets, merged losers' records) is built here as 'wh:<kind>:' .. tag .. ':…' from ARGV[4],
-- the same tag, so the whole call stays within one Redis Cluster slot.
-- KEYS[1] wh:obj:{c:C}:<type>:<id> (field -> JSON value), KEYS[2] wh:ver:{c:C}:<type>:<id> (field -> occurredAt ms
--   that wrote it, and "_at": the version of every field of the record without an entry of its own; "_deleted"
--   tombstone ms, "_merged" winner id, "_stale" ms, "_ix.<field>" number index score kept while deleted),
-- KEYS[3] wh:ids:{c:C}:<type> (live ids, score 0)
-- ARGV[1] occurredAt ms, ARGV[2] action, ARGV[3] object id, ARGV[4] tag "{c:C}", ARGV[5] type, ARGV[6] thin "1"|"0",
-- then n, n × (indexed field, kind "t"|"n")            -- every indexed field of the type, for the actions that may
--                                                         unlink or relink the record (deleted, merged, created,
--                                                         restored); n = 0 for the others
-- then a, a × (reference field, parent type, list)     -- associations of this type as a child, parent type synced
-- then l, l × list                                     -- association lists of this type as a parent, child synced
-- then m, m × loser id                                 -- "merged": the records merged into this one
-- then d, d × (field, parent id)                       -- detach: a removed association writes the field only
--                                                         while it holds that parent or nothing (README)
-- then the fields, in three groups: t, t × (field, JSON value, member)   -- text-indexed: the index member of the
--                                                                          value, lower(text) "\0" id, or "" (none)
--                                   u, u × (field, JSON value, number)   -- number-indexed ("" when no number)
--                                   (field, JSON value) pairs to the end -- the others (and "additional.<name>")
-- Returns {state, changed fields, record (flat field/JSON list, association lists as JSON arrays),
--          previous (flat field/JSON list of changed fields that had a value), existed before 0|1};
-- state: "applied", "deleted", "ignored" (a stale delete, or a write to a deleted record), or "gone": the
-- connection's hash (wh:conn:{c:C}) is not there (deleted, or never created), and nothing was written, so a purge
-- that has finished never sees its keys come back (the worker remembers sync configs for a second).
-- Equal timestamps on one field are broken by the value, so any arrival order ends in the same state.
--
-- Cost (bench/README.md, "Cache"): besides each redis.call, Redis pays for every string and table the script makes
-- (ARGV's strings included) and for every closure. So the record's two hashes are read once each (HGETALL), every
-- write to them is one HSET at the end, the record answered is the one read with the changes patched in (no second
-- HGETALL), an index is touched only for a field whose value changed, the caller computes the new text members,
-- and what only deletes, merges and restores need (the index list, unlink, relink) is built only for them.
local at_s, action, id, tag, otype, thin = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1'
local at = tonumber(at_s)
local base = ':' .. tag .. ':' .. otype .. ':'
local call = redis.call
local find, sub, gsub, byte = string.find, string.sub, string.gsub, string.byte
local EMPTY = {}
if call('EXISTS', 'wh:conn:' .. tag) == 0 then
  return {'gone', EMPTY, EMPTY, EMPTY, 0}
end

-- The sections before the fields; most are empty ("0"), which costs neither a tonumber nor a table.
local i = 7
local indexed = EMPTY
if ARGV[i] ~= '0' then
  indexed = {}
  for _ = 1, tonumber(ARGV[i]) do
    indexed[ARGV[i + 1]] = ARGV[i + 2]
    i = i + 2
  end
end
i = i + 1
local assocs = EMPTY
if ARGV[i] ~= '0' then
  assocs = {}
  for _ = 1, tonumber(ARGV[i]) do
    assocs[ARGV[i + 1]] = {ARGV[i + 2], ARGV[i + 3]}
    i = i + 3
  end
end
i = i + 1
local lists_first, lists_last = i + 1, i + tonumber(ARGV[i]) -- ARGV[lists_first..lists_last]
i = lists_last + 1
local losers_first, losers_last = i + 1, i + tonumber(ARGV[i])
i = losers_last + 1
local detach = EMPTY
if ARGV[i] ~= '0' then
  detach = {}
  for _ = 1, tonumber(ARGV[i]) do
    detach[ARGV[i + 1]] = ARGV[i + 2]
    i = i + 2
  end
end
local text_first = i + 2
local num_first = text_first + 3 * tonumber(ARGV[i + 1]) + 1
local other_first = num_first + 3 * tonumber(ARGV[num_first - 1])

-- Versions are integer texts as C's %lld writes them: compared by sign, length, then text (no tonumber per field).
-- Returns -1, 0 or 1 as `a` is older than, the same as or newer than `b`.
local function cmp(a, b)
  if a == b then return 0 end
  local na, nb = byte(a) == 45, byte(b) == 45
  if na ~= nb then return na and -1 or 1 end
  local la, lb = #a, #b
  local r
  if la ~= lb then r = la < lb and -1 or 1 else r = a < b and -1 or 1 end
  return na and -r or r
end

-- ASCII-only lower-casing, done here so a restore (and the removal of an old entry) can recompute an entry from the
-- stored value: only runs of [A-Z] go through string.lower, so bytes >= 0x80 (UTF-8) are never touched whatever the
-- locale. cache.c's text_member does the same for new values.
local lower_run = string.lower
local function lower(s)
  if not find(s, '[A-Z]') then return s end
  return (gsub(s, '[A-Z]+', lower_run))
end

-- The text a stored JSON value indexes and links by: strings as themselves, numbers and booleans as their
-- JSON text; null, objects and arrays have none. A string without a backslash is its bytes between the quotes
-- (JSON has no other escape); only escaped ones go through cjson.
local function scalar(json)
  if json == nil or json == false or json == '' then return nil end
  local c = byte(json)
  if c == 34 then -- '"'
    if #json >= 2 and byte(json, -1) == 34 and not find(json, '\\', 2, true) then return sub(json, 2, -2) end
    local ok, v = pcall(cjson.decode, json)
    if ok and type(v) == 'string' then return v end
    return nil
  end
  if c == 123 or c == 91 or json == 'null' then return nil end -- '{', '['
  return json
end

local function aset(parent, pid, list) return 'wh:as:' .. tag .. ':' .. parent .. ':' .. pid .. ':' .. list end

-- HSET of a flat field/value list (`n` entries), in slices: unpack is bounded by Lua's C stack (LUAI_MAXCSTACK, 8000),
-- and a record may have thousands of fields.
local function hset(key, list, n)
  for k = 1, n, 1000 do
    call('HSET', key, unpack(list, k, k + 999 < n and k + 999 or n))
  end
end

-- What a delete, a merge or a restore needs: unlink takes a live record out of ids, indexes and its parents' lists,
-- given its values `o` (field -> JSON), parking number scores in its version hash (with `extra`, more field/value
-- pairs of it: one HSET) so that relink, given the values and versions, can put everything back.
local function membership()
  local function ixt(f) return 'wh:ixt' .. base .. f end
  local function ixn(f) return 'wh:ixn' .. base .. f end
  local function member(json, rid)
    local s = scalar(json)
    return s ~= nil and lower(s) .. '\0' .. rid or nil
  end
  local function unlink(ver_key, o, rid, extra)
    call('ZREM', KEYS[3], rid)
    for f, kind in pairs(indexed) do
      if kind == 't' then
        local m = member(o[f], rid)
        if m then call('ZREM', ixt(f), m) end
      else
        local score = call('ZSCORE', ixn(f), rid)
        if score then
          extra[#extra + 1] = '_ix.' .. f
          extra[#extra + 1] = score
          call('ZREM', ixn(f), rid)
        end
      end
    end
    for f, a in pairs(assocs) do
      local p = scalar(o[f])
      if p ~= nil then call('SREM', aset(a[1], p, a[2]), rid) end
    end
    hset(ver_key, extra, #extra)
  end
  local function relink(o, v, rid)
    call('ZADD', KEYS[3], '0', rid)
    local parked = {}
    for f, kind in pairs(indexed) do
      if kind == 't' then
        local m = member(o[f], rid)
        if m then call('ZADD', ixt(f), '0', m) end
      else
        local score = v['_ix.' .. f]
        if score then
          call('ZADD', ixn(f), score, rid)
          parked[#parked + 1] = '_ix.' .. f
        end
      end
    end
    if #parked > 0 then call('HDEL', KEYS[2], unpack(parked)) end
    for f, a in pairs(assocs) do
      local p = scalar(o[f])
      if p ~= nil then call('SADD', aset(a[1], p, a[2]), rid) end
    end
  end
  return unlink, relink
end

-- A hash as field -> value.
local function map_of(flat)
  local m = {}
  for k = 1, #flat, 2 do m[flat[k]] = flat[k + 1] end
  return m
end

-- The record's hash as read (`flat`), and field -> position of its value in it: the record answered is `flat` with
-- this change's writes patched in.
local ver = map_of(call('HGETALL', KEYS[2]))
local flat = call('HGETALL', KEYS[1])
local nflat = #flat
local pos = {}
for k = 1, nflat, 2 do pos[flat[k]] = k + 1 end
local function cur_of(f)
  local p = pos[f]
  return p and flat[p]
end

-- The record after the change with its association lists: at most LIST_MAX ids each (beyond that, LIST_MAX of them
-- taken by SRANDMEMBER, sorted, and "<list>Truncated"; the read API shows the first 1000 by id), so a parent of
-- 50 000 children costs neither Redis time nor megabytes of webhook body on every change.
local LIST_MAX = 1000
local function record()
  for k = lists_first, lists_last do
    local list = ARGV[k]
    local key = aset(otype, id, list)
    local n = call('SCARD', key)
    local ids = n <= LIST_MAX and call('SMEMBERS', key) or call('SRANDMEMBER', key, LIST_MAX)
    table.sort(ids)
    flat[nflat + 1] = list
    flat[nflat + 2] = #ids == 0 and '[]' or cjson.encode(ids)
    nflat = nflat + 2
    if n > LIST_MAX then
      flat[nflat + 1] = list .. 'Truncated'
      flat[nflat + 2] = 'true'
      nflat = nflat + 2
    end
  end
  return flat
end

local existed = pos.id ~= nil and ver._deleted == nil
local tomb = ver._deleted

if action == 'deleted' then
  if tomb and cmp(at_s, tomb) <= 0 then
    return {'ignored', EMPTY, EMPTY, EMPTY, existed and 1 or 0}
  end
  if existed then
    local unlink = membership()
    unlink(KEYS[2], map_of(flat), id, {'_deleted', at_s})
  else
    call('HSET', KEYS[2], '_deleted', at_s)
  end
  return {'deleted', EMPTY, record(), EMPTY, existed and 1 or 0}
end

if tomb then
  -- a deletion sticks: only a later creation or restore brings the record back
  if (action ~= 'created' and action ~= 'restored') or cmp(at_s, tomb) <= 0 then
    return {'ignored', EMPTY, EMPTY, EMPTY, 0}
  end
  call('HDEL', KEYS[2], '_deleted', '_merged')
  ver._deleted, ver._merged = nil, nil
  if pos.id ~= nil then
    local _, relink = membership()
    relink(map_of(flat), ver, id)
  end
end

-- The winner of a merge keeps its own fields and id; each loser gets a tombstone at this time and "_merged"
-- naming the winner (reads redirect), and leaves ids, indexes and its parents' lists. Its own children stay in
-- its association sets: their reference fields still name the loser until the CRM reports them re-parented.
if action == 'merged' and losers_last >= losers_first then
  local unlink = membership()
  for k = losers_first, losers_last do
    local lid = ARGV[k]
    if lid ~= id then
      local lobj, lver = 'wh:obj' .. base .. lid, 'wh:ver' .. base .. lid
      local ltomb = call('HGET', lver, '_deleted')
      if not ltomb or cmp(at_s, ltomb) > 0 then
        local tombstone = {'_deleted', at_s, '_merged', id}
        if not ltomb and call('HEXISTS', lobj, 'id') == 1 then
          unlink(lver, map_of(call('HGETALL', lobj)), lid, tombstone)
        else
          hset(lver, tombstone, 4)
        end
      end
    end
  end
end

-- Writes gathered for one HSET per hash at the end; `flat` follows them as they are decided.
local obj_w, ver_w, nobj_w, nver_w = {}, {}, 0, 0
local function set_obj(f, v)
  obj_w[nobj_w + 1], obj_w[nobj_w + 2] = f, v
  nobj_w = nobj_w + 2
  local p = pos[f]
  if p then
    flat[p] = v
  else
    flat[nflat + 1], flat[nflat + 2] = f, v
    nflat = nflat + 2
    pos[f] = nflat
  end
end

if pos.id == nil then
  set_obj('id', cjson.encode(id))
  call('ZADD', KEYS[3], '0', id)
end

local changed, previous, nchanged, nprevious = {}, {}, 0, 0

-- Versions: a field's version is its own entry in the version hash, else "_at" when the record has the field. A
-- change that wins every field holding "_at" (a sync push sends the whole record) moves "_at" instead of writing
-- one entry per field, so the version hash of a synced record stays one field; other changes (a webhook's one
-- property) write their fields' own entries. Either way every field's version is exactly the time that wrote it.
local base_at = ver._at
local total_implicit, won_implicit, explicit_w = 0, 0, {}

-- One field of a non-thin change: written when it wins (a later occurredAt, or the same and a greater value); its
-- index entry (kind "t" with the new member `entry`, or "n" with the new number `entry`) and its parents' lists
-- move only when its value changed.
local function write(f, v, kind, entry)
  local cur = cur_of(f)
  local seen = ver[f]
  local implicit = seen == nil and cur ~= nil
  if implicit then seen = base_at end
  local win = seen == nil
  if not win then
    local c = cmp(at_s, seen)
    win = c > 0 or (c == 0 and (cur == nil or v > cur))
  end
  if win and detach[f] ~= nil then
    -- a removed association clears the reference only while it names that parent: a child since moved to
    -- another parent keeps it (and the field's version, so a late write of the old parent is judged as before)
    local p = scalar(cur)
    win = p == nil or p == detach[f]
  end
  if not win then return end
  if implicit then
    won_implicit = won_implicit + 1
  elseif ver[f] ~= nil then
    explicit_w[#explicit_w + 1] = f
  end
  ver[f] = at_s -- a field named twice in one change is judged against its first write
  ver_w[nver_w + 1], ver_w[nver_w + 2] = f, at_s
  nver_w = nver_w + 2
  if cur == v then return end
  set_obj(f, v)
  nchanged = nchanged + 1
  changed[nchanged] = f
  if cur then
    previous[nprevious + 1], previous[nprevious + 2] = f, cur
    nprevious = nprevious + 2
  end
  if kind == 't' then
    -- "Smith" -> "SMITH" changes the value, not the entry
    local s0 = scalar(cur)
    local m0 = s0 ~= nil and lower(s0) .. '\0' .. id or ''
    if m0 ~= entry then
      if m0 ~= '' then call('ZREM', 'wh:ixt' .. base .. f, m0) end
      if entry ~= '' then call('ZADD', 'wh:ixt' .. base .. f, '0', entry) end
    end
  elseif kind == 'n' then
    if entry ~= '' then
      call('ZADD', 'wh:ixn' .. base .. f, entry, id)
    else
      call('ZREM', 'wh:ixn' .. base .. f, id)
    end
  end
  local a = assocs[f]
  if a ~= nil then
    local p0, p1 = scalar(cur), scalar(v)
    if p0 ~= p1 then
      if p0 ~= nil then call('SREM', aset(a[1], p0, a[2]), id) end
      if p1 ~= nil then call('SADD', aset(a[1], p1, a[2]), id) end
    end
  end
end

local stale = ver._stale
if thin then
  -- ids only: the fields are not touched; the record is stale until a non-thin write at or after this time
  if stale == nil or cmp(at_s, stale) > 0 then
    ver_w[1], ver_w[2], nver_w = '_stale', at_s, 2
  end
else
  if stale ~= nil and cmp(at_s, stale) >= 0 then call('HDEL', KEYS[2], '_stale') end
  if base_at ~= nil then
    for k = 1, nflat, 2 do
      local f = flat[k]
      if ver[f] == nil and f ~= 'id' then total_implicit = total_implicit + 1 end
    end
  end
  for k = text_first, num_first - 4, 3 do write(ARGV[k], ARGV[k + 1], 't', ARGV[k + 2]) end
  for k = num_first, other_first - 3, 3 do write(ARGV[k], ARGV[k + 1], 'n', ARGV[k + 2]) end
  for k = other_first, #ARGV - 1, 2 do write(ARGV[k], ARGV[k + 1], nil, nil) end
  if nver_w > 0 and won_implicit == total_implicit and (base_at == nil or cmp(at_s, base_at) >= 0) then
    -- every field on "_at" won: "_at" moves to this time, and the winners' own entries give way to it
    if #explicit_w > 0 then call('HDEL', KEYS[2], unpack(explicit_w)) end
    ver_w[1], ver_w[2], nver_w = '_at', at_s, 2
  end
end
hset(KEYS[2], ver_w, nver_w)
hset(KEYS[1], obj_w, nobj_w)
return {'applied', changed, record(), previous, existed and 1 or 0}
