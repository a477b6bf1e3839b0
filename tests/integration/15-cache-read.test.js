'use strict';
// Scenario 15: reading the synced cache (design §5, §6; docs/api.md "Cache"). The cache is seeded straight into
// Redis in the key format of queue/keys.h (records, versions, the id list, text and number indexes, association
// sets), independently of the worker's write side, for connections created through the API (so wh:conn holds
// env, sync and syncState). Then: one record (with its nested "additional", association list and stale flag), 404
// for absent, deleted and merged records, listings whose cursor visits every record exactly once, every filter
// operator on text and number/date indexes (case, unicode, empty prefix, ANDed filters), the bounds, and
// isolation between environments.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('cache-read');

const DAY = 86400000;
const BASE = Date.UTC(2024, 0, 1); // 2024-01-01T00:00:00Z
const LAST_NAMES = ['Smith', 'Smithers', 'smit', 'Jones', 'Brown', 'Ünal', '名前', 'Smíth', 'Doe', 'smith'];
const CONTACTS = 2000;
const DEALS = 30;

// Indexed fields (common/unified.c), as the write side indexes them.
const INDEXED = {
    contact: { text: ['email', 'firstName', 'lastName', 'phone', 'accountId', 'ownerId'], number: ['updatedAt', 'createdAt'] },
    deal: { text: ['name', 'stage', 'accountId', 'ownerId'], number: ['amount', 'closeDate', 'updatedAt', 'createdAt'] },
    task: { text: ['status', 'dealId', 'accountId', 'contactId', 'ownerId'], number: ['dueDate', 'updatedAt', 'createdAt'] },
};

/* Writes records exactly as queue/keys.h lays them out. ARGV[1] connection id, ARGV[2] JSON list of records. */
const SEED = `
local C = ARGV[1]
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local base = '{c:' .. C .. '}:' .. r.type
  for f, v in pairs(r.obj) do redis.call('HSET', 'wh:obj:' .. base .. ':' .. r.id, f, v) end
  for f, v in pairs(r.ver) do redis.call('HSET', 'wh:ver:' .. base .. ':' .. r.id, f, v) end
  if r.listed then
    redis.call('ZADD', 'wh:ids:' .. base, 0, r.id)
    for f, v in pairs(r.ixt) do redis.call('ZADD', 'wh:ixt:' .. base .. ':' .. f, 0, string.lower(v) .. '\\0' .. r.id) end
    for f, v in pairs(r.ixn) do redis.call('ZADD', 'wh:ixn:' .. base .. ':' .. f, v, r.id) end
  end
  for l, ids in pairs(r.as) do
    for _, c in ipairs(ids) do redis.call('SADD', 'wh:as:' .. base .. ':' .. r.id .. ':' .. l, c) end
  end
end
return 1`;

const asDate = (v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : v);

/*
 * A record as the write side stores it: JSON values, "additional" flattened, one version per field; listed and
 * indexed unless deleted or merged (unless `indexedAnyway`: a stale index entry the read side must ignore).
 */
function stored(type, { id, fields, deletedAt, mergedInto, staleAt, indexedAnyway = false, as = {} }) {
    const obj = { id: JSON.stringify(id) };
    const ver = {};
    const ixt = {};
    const ixn = {};
    for (const [k, v] of Object.entries(fields)) {
        if (k === 'additional') {
            for (const [k2, v2] of Object.entries(v)) {
                obj[`additional.${k2}`] = JSON.stringify(v2);
                ver[`additional.${k2}`] = String(BASE);
            }
            continue;
        }
        obj[k] = JSON.stringify(v);
        ver[k] = String(BASE);
        if (INDEXED[type].text.includes(k) && typeof v === 'string') ixt[k] = v;
        if (INDEXED[type].number.includes(k)) ixn[k] = String(asDate(v));
    }
    if (deletedAt) ver._deleted = String(deletedAt);
    if (mergedInto) ver._merged = mergedInto;
    if (staleAt) ver._stale = String(staleAt);
    return { type, id, obj, ver, ixt, ixn, as, listed: (!deletedAt && !mergedInto) || indexedAnyway };
}

async function seed(redis, connectionId, records) {
    for (let i = 0; i < records.length; i += 200) {
        // one declared key of the connection's tag routes the script to its slot's master on a cluster
        await redis.cli('EVAL', SEED, '1', `wh:seed:{c:${connectionId}}`, connectionId, JSON.stringify(records.slice(i, i + 200)));
    }
}

function contactFields(i) {
    return {
        firstName: `First${i}`,
        lastName: LAST_NAMES[i % LAST_NAMES.length],
        email: `User${i}@Example.com`,
        updatedAt: new Date(BASE + i * DAY).toISOString(),
        createdAt: new Date(BASE).toISOString(),
    };
}
const contactId = (i) => `c${String(i).padStart(4, '0')}`;
const dealId = (i) => `d${String(i).padStart(2, '0')}`;

let s;

ctx.before(async () => {
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis });
    const env = await wharf.createEnvironment({ name: 'cache', kind: 'development' });
    const other = await wharf.createEnvironment({ name: 'other', kind: 'development' });
    const secret = `hs-${crypto.randomBytes(8).toString('hex')}`;
    // A syncs contacts, deals and tasks; B syncs contacts and deals only (so deals show no taskIds there).
    const a = await wharf.createHubSpotConnection(env.apiToken, { portalId: 1501, secret, objects: { contacts: true, deals: true, tasks: true } });
    const b = await wharf.createHubSpotConnection(env.apiToken, { portalId: 1502, secret, objects: { contacts: true, deals: true } });

    const contacts = [];
    for (let i = 0; i < CONTACTS; i++) contacts.push({ id: contactId(i), fields: contactFields(i) });
    contacts[2].staleAt = BASE + 5;
    contacts[3].fields.additional = { favoriteColor: 'blue', score: 7 };
    const records = contacts.map((c) => stored('contact', c));
    records.push(stored('contact', { id: 'gone', fields: contactFields(5000), deletedAt: BASE + 10 }));
    records.push(stored('contact', { id: 'loser', fields: contactFields(5001), mergedInto: 'c0001', deletedAt: BASE + 10 }));
    records.push(stored('contact', { id: 'ghost', fields: { ...contactFields(5002), lastName: 'Smith' }, deletedAt: BASE + 10, indexedAnyway: true }));

    const deals = [];
    for (let i = 0; i < DEALS; i++) {
        deals.push({
            id: dealId(i),
            fields: {
                name: `Deal ${i}`, stage: i % 2 ? 'won' : 'open', amount: i * 1000,
                closeDate: i % 2 === 0 ? '2025-01-01' : `2025-02-${String(1 + (i % 28)).padStart(2, '0')}`,
                updatedAt: new Date(BASE + i * DAY).toISOString(),
            },
        });
    }
    deals[0].as = { taskIds: ['t3', 't1', 't0', 't4', 't2'] };
    const dealRecords = deals.map((d) => stored('deal', d));
    await seed(redis, a.connectionId, [...records, ...dealRecords]);
    await seed(redis, b.connectionId, [stored('deal', { ...deals[0] })]);
    s = { redis, wharf, env, other, a, b, contacts, deals };
});

const api = (p, token = s.env.apiToken) => s.wharf.api('GET', p, { token });
const cachePath = (conn, type, query) => `/v1/cache/${conn}/${type}${query ? `?${query}` : ''}`;

function ok(res) {
    assert.equal(res.status, 200, h.show(res));
    assert.equal(res.json.syncState, 'initial-sync-in-progress', `syncState in every answer: ${h.show(res)}`);
    return res.json;
}

function invalid(res, start) {
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'invalid_request', h.show(res));
    assert.ok(res.json.error.message.startsWith(start), `the message must start with ${start}: ${h.show(res)}`);
}

/* Every page of a listing with `filters`, following nextCursor; returns the ids in order and the page count. */
async function allIds(filters, limit, type = 'contact', conn = s.a.connectionId) {
    const ids = [];
    let cursor = null;
    let pages = 0;
    for (;;) {
        assert.ok(++pages < 5000, 'pagination does not end');
        const q = new URLSearchParams();
        for (const f of filters) q.append('filter', f);
        q.set('limit', String(limit));
        if (cursor) q.set('cursor', cursor);
        const page = ok(await api(cachePath(conn, type, q.toString())));
        assert.ok(page.objects.length <= limit, `a page of ${page.objects.length} for limit=${limit}`);
        ids.push(...page.objects.map((o) => o.id));
        cursor = page.nextCursor;
        if (cursor === null) return { ids, pages };
        assert.equal(typeof cursor, 'string');
    }
}

function exactlyOnce(ids, expected) {
    assert.equal(new Set(ids).size, ids.length, 'a record was listed twice');
    assert.deepEqual([...ids].sort(), [...expected].sort());
}

const liveContacts = () => s.contacts.map((c) => c.id);
const contactsWhere = (pred) => s.contacts.filter((c) => pred(c.fields)).map((c) => c.id);

ctx.test('one record: fields, nested additional, association list, stale flag, syncState', async () => {
    const one = ok(await api(cachePath(s.a.connectionId, 'contact/c0003')));
    // tasks are synced on A, so a contact lists its tasks (task.contactId) even when it has none
    assert.deepEqual(one.object, { id: 'c0003', ...contactFields(3), additional: { favoriteColor: 'blue', score: 7 }, taskIds: [] });
    const stale = ok(await api(cachePath(s.a.connectionId, 'contact/c0002')));
    assert.equal(stale.object.stale, true);
    assert.equal(one.object.stale, undefined);
    const deal = ok(await api(cachePath(s.a.connectionId, 'deal/d00')));
    assert.deepEqual(deal.object.taskIds, ['t0', 't1', 't2', 't3', 't4'], 'children sorted');
    assert.equal(deal.object.amount, 0);
    const withoutTasks = ok(await api(cachePath(s.b.connectionId, 'deal/d00')));
    assert.equal(withoutTasks.object.taskIds, undefined, 'tasks are not synced on B: no taskIds');
    const noChildren = ok(await api(cachePath(s.a.connectionId, 'deal/d01')));
    assert.deepEqual(noChildren.object.taskIds, []);
});

ctx.test('absent, deleted and merged records → 404 (merged names the winner)', async () => {
    for (const id of ['nope', 'gone', 'ghost']) {
        const res = await api(cachePath(s.a.connectionId, `contact/${id}`));
        assert.equal(res.status, 404, h.show(res));
        assert.equal(h.errorCode(res), 'not_found', h.show(res));
        assert.equal(res.json.syncState, 'initial-sync-in-progress', h.show(res));
    }
    const merged = await api(cachePath(s.a.connectionId, 'contact/loser'));
    assert.equal(merged.status, 404, h.show(merged));
    assert.equal(h.errorCode(merged), 'merged', h.show(merged));
    assert.equal(merged.json.error.mergedInto, 'c0001', h.show(merged));
    assert.equal(merged.json.syncState, 'initial-sync-in-progress');
});

ctx.test('list all: the cursor visits every live record exactly once, in id order (limit 1, 7, 1000)', async () => {
    const all1000 = await allIds([], 1000);
    assert.deepEqual(all1000.ids, [...liveContacts()].sort(), 'lexicographic order, no deleted/merged/ghost');
    assert.ok(all1000.pages <= 3, `${all1000.pages} pages`);
    exactlyOnce((await allIds([], 7)).ids, liveContacts());
    const deals = await allIds([], 1, 'deal');
    assert.deepEqual(deals.ids, s.deals.map((d) => d.id));
    const first = ok(await api(cachePath(s.a.connectionId, 'contact')));
    assert.equal(first.objects.length, 100, 'default limit 100');
    assert.deepEqual(first.objects[0], { id: 'c0000', ...contactFields(0), taskIds: [] });
    const dealPage = ok(await api(cachePath(s.a.connectionId, 'deal', 'limit=1')));
    assert.deepEqual(dealPage.objects[0].taskIds, ['t0', 't1', 't2', 't3', 't4'], 'listed records carry their lists too');
});

ctx.test('text filters: startsWith ignores ASCII case, eq on email, unicode prefixes, empty prefix', async () => {
    const smi = contactsWhere((f) => f.lastName.toLowerCase().startsWith('smi'));
    assert.ok(smi.length > 0);
    for (const v of ['Smi', 'smi', 'SMI']) exactlyOnce((await allIds([`lastName:startsWith:${v}`], 1000)).ids, smi);
    exactlyOnce((await allIds(['lastName:startsWith:smi'], 7)).ids, smi);
    exactlyOnce((await allIds(['lastName:eq:SMITH'], 50)).ids, contactsWhere((f) => f.lastName.toLowerCase() === 'smith'));
    assert.deepEqual((await allIds(['email:eq:USER42@example.COM'], 10)).ids, ['c0042']);
    assert.deepEqual((await allIds(['email:eq:user42@example'], 10)).ids, [], 'eq is not a prefix match');
    const unal = contactsWhere((f) => f.lastName === 'Ünal');
    exactlyOnce((await allIds(['lastName:startsWith:Ün'], 1000)).ids, unal);
    exactlyOnce((await allIds(['lastName:startsWith:ÜN'], 1000)).ids, unal);
    assert.deepEqual((await allIds(['lastName:startsWith:ün'], 1000)).ids, [], 'only ASCII case is ignored');
    exactlyOnce((await allIds(['lastName:startsWith:名'], 1000)).ids, contactsWhere((f) => f.lastName === '名前'));
    exactlyOnce((await allIds(['lastName:startsWith:Smí'], 1000)).ids, contactsWhere((f) => f.lastName === 'Smíth'));
    exactlyOnce((await allIds(['lastName:startsWith:'], 1000)).ids, liveContacts());
});

ctx.test('number and date filters: gt, lt, eq with ISO dates and date-times, amounts; ties across pages', async () => {
    const dec1 = Date.UTC(2024, 11, 1);
    exactlyOnce((await allIds(['updatedAt:gt:2024-12-01'], 1000)).ids, contactsWhere((f) => Date.parse(f.updatedAt) > dec1));
    exactlyOnce((await allIds(['updatedAt:lt:2024-12-01'], 7)).ids, contactsWhere((f) => Date.parse(f.updatedAt) < dec1));
    assert.deepEqual((await allIds(['updatedAt:eq:2024-12-01'], 10)).ids, [contactId(335)]);
    assert.deepEqual((await allIds(['updatedAt:eq:2024-12-01T00:00:00.000Z'], 10)).ids, [contactId(335)]);
    assert.deepEqual((await allIds(['updatedAt:eq:2024-12-01T01:00:00+01:00'], 10)).ids, [contactId(335)]);
    assert.deepEqual((await allIds(['amount:gt:20000'], 4, 'deal')).ids, s.deals.slice(21).map((d) => d.id), 'ascending amounts');
    assert.deepEqual((await allIds(['amount:gt:20000.5'], 100, 'deal')).ids, s.deals.slice(21).map((d) => d.id));
    assert.deepEqual((await allIds(['amount:lt:3000'], 100, 'deal')).ids, ['d00', 'd01', 'd02']);
    assert.deepEqual((await allIds(['amount:eq:5000'], 100, 'deal')).ids, ['d05']);
    const ties = s.deals.filter((d) => d.fields.closeDate === '2025-01-01').map((d) => d.id);
    assert.deepEqual((await allIds(['closeDate:eq:2025-01-01'], 2, 'deal')).ids, ties, 'equal scores page by id');
});

ctx.test('several filters are ANDed; bounded pages may be short but the walk is complete', async () => {
    const jun1 = Date.UTC(2025, 5, 1);
    const both = contactsWhere((f) => f.lastName.toLowerCase().startsWith('smi') && Date.parse(f.updatedAt) > jun1);
    for (const limit of [1, 7, 1000]) {
        exactlyOnce((await allIds(['lastName:startsWith:smi', 'updatedAt:gt:2025-06-01'], limit)).ids, both);
    }
    exactlyOnce((await allIds(['updatedAt:gt:2025-06-01', 'lastName:startsWith:smi'], 7)).ids, both);
    const narrow = contactsWhere((f) => f.lastName === 'Jones' && f.email.toLowerCase() === 'user13@example.com');
    assert.deepEqual((await allIds(['lastName:eq:jones', 'email:eq:user13@example.com'], 5)).ids, narrow);
    assert.deepEqual((await allIds(['amount:gt:2000', 'stage:eq:WON', 'amount:lt:9000'], 2, 'deal')).ids, ['d03', 'd05', 'd07']);
});

ctx.test('bad input → 400 invalid_request naming what is wrong', async () => {
    const p = (q, type = 'contact') => api(cachePath(s.a.connectionId, type, q));
    invalid(await p('limit=1001'), 'limit');
    invalid(await p('limit=0'), 'limit');
    invalid(await p('limit=ten'), 'limit');
    invalid(await p('cursor=garbage!'), 'cursor');
    invalid(await p('colour=blue'), 'colour');
    const notIndexed = await p('filter=favoriteColor:eq:blue');
    invalid(notIndexed, 'filter');
    assert.match(notIndexed.json.error.message, /favoriteColor/);
    assert.match(notIndexed.json.error.message, /email, firstName, lastName, phone, accountId, ownerId, updatedAt, createdAt/);
    invalid(await p('filter=lastName:contains:smi'), 'filter');
    invalid(await p('filter=lastName:gt:smi'), 'filter');
    invalid(await p('filter=updatedAt:startsWith:2024'), 'filter');
    invalid(await p('filter=lastName'), 'filter');
    invalid(await p('filter=lastName:eq'), 'filter');
    invalid(await p('filter=updatedAt:gt:yesterday'), 'filter');
    invalid(await p('filter=amount:gt:0x10', 'deal'), 'filter');
    invalid(await p('filter=updatedAt:gt:2024-02-30'), 'filter');
    invalid(await p('filter=a:eq:1&filter=b:eq:2&filter=c:eq:3&filter=d:eq:4&filter=e:eq:5'), 'filter');
    invalid(await p('limit=1&limit=2'), 'limit');
    invalid(await api(cachePath(s.a.connectionId, 'widget')), 'objectType');
    invalid(await api(cachePath(s.a.connectionId, 'widget/1')), 'objectType');
    invalid(await api(cachePath(s.a.connectionId, 'contact/c0001?x=1')), 'x');
    // a cursor of one listing given to another kind of listing
    const page = ok(await api(cachePath(s.a.connectionId, 'contact', 'limit=1')));
    invalid(await p(`filter=updatedAt:gt:2024-01-01&cursor=${page.nextCursor}`), 'cursor');
});

ctx.test('object types not in the sync config → 400 object_not_synced (with syncState)', async () => {
    for (const p of [cachePath(s.a.connectionId, 'lead'), cachePath(s.a.connectionId, 'lead/l1'), cachePath(s.b.connectionId, 'task/t0')]) {
        const res = await api(p);
        assert.equal(res.status, 400, h.show(res));
        assert.equal(h.errorCode(res), 'object_not_synced', h.show(res));
        assert.equal(res.json.syncState, 'initial-sync-in-progress');
    }
});

ctx.test('another environment, or no such connection → 404 on both routes', async () => {
    for (const p of [cachePath(s.a.connectionId, 'contact'), cachePath(s.a.connectionId, 'contact/c0001'),
        cachePath('no-such-conn', 'contact'), cachePath('no-such-conn', 'contact/c0001')]) {
        const token = p.includes('no-such') ? s.env.apiToken : s.other.apiToken;
        const res = await api(p, token);
        assert.equal(res.status, 404, h.show(res));
        assert.equal(h.errorCode(res), 'not_found', h.show(res));
        assert.equal(res.json.syncState, undefined, 'nothing about another environment\'s connection');
    }
});

ctx.test('syncState follows the connection', async () => {
    await s.redis.cli('HSET', `wh:conn:{c:${s.b.connectionId}}`, 'syncState', 'initial-sync-complete');
    const res = await api(cachePath(s.b.connectionId, 'deal/d00'));
    assert.equal(res.status, 200, h.show(res));
    assert.equal(res.json.syncState, 'initial-sync-complete');
});

ctx.test('cursors under concurrent writes: records added behind or ahead, the cursor record re-valued', async () => {
    const conn = s.a.connectionId;
    const key = (k) => `wh:${k}:{c:${conn}}:deal`;
    // closeDate ties: the cursor is (score, id); when its record leaves that score the walk resumes among the ties
    const ties = s.deals.filter((d) => d.fields.closeDate === '2025-01-01').map((d) => d.id);
    const page1 = ok(await api(cachePath(conn, 'deal', 'filter=closeDate:eq:2025-01-01&limit=3')));
    assert.deepEqual(page1.objects.map((o) => o.id), ties.slice(0, 3));
    await s.redis.cli('ZADD', `${key('ixn')}:closeDate`, String(Date.UTC(2030, 0, 1)), ties[2]);
    const rest = [];
    let cursor = page1.nextCursor;
    while (cursor) {
        const page = ok(await api(cachePath(conn, 'deal', `filter=closeDate:eq:2025-01-01&limit=3&cursor=${cursor}`)));
        rest.push(...page.objects.map((o) => o.id));
        cursor = page.nextCursor;
    }
    assert.deepEqual(rest, ties.slice(3), 'the remaining ties, each once');
    await s.redis.cli('ZADD', `${key('ixn')}:closeDate`, String(Date.parse('2025-01-01')), ties[2]);

    // the id listing: a record added behind the cursor is not seen, one added ahead is
    const first = ok(await api(cachePath(conn, 'deal', 'limit=10')));
    assert.equal(first.objects.at(-1).id, 'd09');
    await seed(s.redis, conn, [stored('deal', { id: 'd05a', fields: { name: 'late' } }), stored('deal', { id: 'd15a', fields: { name: 'late' } })]);
    const { ids } = await (async () => {
        const out = [];
        let c = first.nextCursor;
        while (c) {
            const page = ok(await api(cachePath(conn, 'deal', `limit=10&cursor=${c}`)));
            out.push(...page.objects.map((o) => o.id));
            c = page.nextCursor;
        }
        return { ids: out };
    })();
    assert.ok(ids.includes('d15a') && !ids.includes('d05a'), ids.join(','));
    exactlyOnce([...first.objects.map((o) => o.id), ...ids], [...s.deals.map((d) => d.id), 'd15a']);
    await s.redis.cli('ZREM', key('ids'), 'd05a', 'd15a');
});
