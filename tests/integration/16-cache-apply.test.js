'use strict';
// Scenario 16: the synced cache's write side through the worker (cache/scripts/apply.lua): HubSpot's
// one-property-at-a-time updates arriving out of order end right, a delete sticks against a late update,
// objects outside the sync config are delivered but not cached, and a parent's record lists its children.
// Redis is read directly (the key model of queue/keys.h); deliveries are verified with standardwebhooks.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('cache-apply');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
const PORTAL2 = 777001;
let redis, wharf, sink, env, conn, conn2, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'cache', kind: 'development' });
    conn = await wharf.createHubSpotConnection(env.apiToken,
        { portalId: hubspot.PORTAL, secret, objects: { contacts: true, deals: true, accounts: true } });
    conn2 = await wharf.createHubSpotConnection(env.apiToken, { portalId: PORTAL2, secret, objects: { contacts: true } });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

/* Posts each event as its own request, in the given order (one connection: the queue keeps that order). */
async function post(events) {
    for (const ev of events) {
        const res = await wharf.postHubSpot({ events: [ev], secret });
        assert.equal(res.status, 202, h.show(res));
    }
}

async function deliveriesOf(objectId, count) {
    return h.waitUntil(() => {
        const got = sink.to('/all').filter((r) => r.json?.data?.objectId === objectId);
        return got.length >= count ? got : null;
    }, { timeout: 15000, what: `${count} deliveries for object ${objectId}`, procs: [wharf.proc] });
}

async function hgetall(key) {
    const out = (await redis.cli('HGETALL', key)).split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');
    const o = {};
    for (let i = 0; i + 1 < out.length; i += 2) o[out[i]] = out[i + 1];
    return o;
}

const t0 = Date.now() - 3600000;

ctx.test('out-of-order property changes end in the latest values, with the indexes following', async () => {
    // newest first: email@300, lastname@200, email@100 (the oldest arrives last and must lose)
    await post([
        hubspot.propertyChange('contact', { objectId: 601, propertyName: 'email', propertyValue: 'New@x.io', occurredAt: t0 + 300 }),
        hubspot.propertyChange('contact', { objectId: 601, propertyName: 'lastname', propertyValue: 'Smith', occurredAt: t0 + 200 }),
        hubspot.propertyChange('contact', { objectId: 601, propertyName: 'email', propertyValue: 'old@x.io', occurredAt: t0 + 100 }),
    ]);
    const recs = await deliveriesOf('601', 3);
    const c = conn.connectionId;
    const obj = await hgetall(`wh:obj:{c:${c}}:contact:601`);
    assert.equal(obj.email, '"New@x.io"', JSON.stringify(obj));
    assert.equal(obj.lastName, '"Smith"', JSON.stringify(obj));
    const ver = await hgetall(`wh:ver:{c:${c}}:contact:601`);
    // a field without an entry of its own is at "_at" (cache/README.md)
    assert.equal(ver.email ?? ver._at, String(t0 + 300), JSON.stringify(ver));
    const ix = (await redis.cli('ZRANGE', `wh:ixt:{c:${c}}:contact:email`, '0', '-1')).trim();
    assert.equal(ix, 'new@x.io\u0000601', 'the email index holds only the latest value, lower-cased');
    assert.equal((await redis.cli('ZSCORE', `wh:ids:{c:${c}}:contact`, '601')).trim(), '0');
    for (const rec of recs) {
        const p = h.verifyDelivery(rec, sub.secret);
        assert.equal(p.data.object?.email, 'New@x.io', `every delivery carries the record after its change: ${rec.text}`);
    }
    const last = recs.find((r) => r.json.data.occurredAt === new Date(t0 + 100).toISOString());
    assert.ok(last, 'the delivery of the oldest change');
    assert.deepEqual(last.json.data.changedFields, ['email']);
});

ctx.test('a delete sticks: a late update neither resurrects the record nor carries it', async () => {
    await post([
        hubspot.creation('contact', { objectId: 602, occurredAt: t0 + 10 }),
        hubspot.propertyChange('contact', { objectId: 602, propertyName: 'email', propertyValue: 'a@x.io', occurredAt: t0 + 20 }),
        hubspot.deletion('contact', { objectId: 602, occurredAt: t0 + 500 }),
        hubspot.propertyChange('contact', { objectId: 602, propertyName: 'email', propertyValue: 'late@x.io', occurredAt: t0 + 400 }),
    ]);
    const recs = await deliveriesOf('602', 4);
    const c = conn.connectionId;
    const ver = await hgetall(`wh:ver:{c:${c}}:contact:602`);
    assert.equal(ver._deleted, String(t0 + 500), JSON.stringify(ver));
    assert.equal((await hgetall(`wh:obj:{c:${c}}:contact:602`)).email, '"a@x.io"');
    assert.equal((await redis.cli('ZSCORE', `wh:ids:{c:${c}}:contact`, '602')).trim(), '', 'not listed');
    const ix = (await redis.cli('ZRANGE', `wh:ixt:{c:${c}}:contact:email`, '0', '-1')).split('\n');
    assert.ok(!ix.some((m) => m.endsWith('\u0000602')), `no index entry for a deleted record: ${JSON.stringify(ix)}`);
    const late = recs.find((r) => r.json.data.occurredAt === new Date(t0 + 400).toISOString());
    assert.equal(late.json.type, 'crm.contact.updated', 'webhook events are always delivered');
    assert.equal(late.json.data.object, undefined, `a late update of a deleted record carries no cached record: ${late.text}`);
});

ctx.test('a connection syncing only contacts delivers crm.deal.* but does not cache deals', async () => {
    const res = await wharf.postHubSpot({
        events: [
            hubspot.propertyChange('deal', { portalId: PORTAL2, objectId: 9101, propertyName: 'amount', propertyValue: '1500', occurredAt: t0 + 1 }),
            hubspot.propertyChange('contact', { portalId: PORTAL2, objectId: 701, propertyName: 'email', propertyValue: 'c@x.io', occurredAt: t0 + 2 }),
        ],
        secret,
    });
    assert.equal(res.status, 202, h.show(res));
    const [deal] = await deliveriesOf('9101', 1);
    await deliveriesOf('701', 1);
    const p = h.verifyDelivery(deal, sub.secret);
    assert.equal(p.type, 'crm.deal.updated');
    assert.equal(p.data.connectionId, conn2.connectionId);
    assert.equal(p.data.object, undefined, 'an object that is not synced has no cached record');
    const c = conn2.connectionId;
    assert.equal((await redis.cli('EXISTS', `wh:obj:{c:${c}}:deal:9101`)).trim(), '0', 'deals are not cached');
    assert.equal((await redis.cli('EXISTS', `wh:ixn:{c:${c}}:deal:amount`)).trim(), '0', 'nor indexed');
    assert.equal((await hgetall(`wh:obj:{c:${c}}:contact:701`)).email, '"c@x.io"', 'contacts are');
});

ctx.test('association lists: a contact with accountId appears in the account\'s contactIds, and moves', async () => {
    await post([
        hubspot.propertyChange('contact', { objectId: 603, propertyName: 'associatedcompanyid', propertyValue: '901', occurredAt: t0 + 1 }),
        hubspot.propertyChange('contact', { objectId: 604, propertyName: 'associatedcompanyid', propertyValue: '901', occurredAt: t0 + 1 }),
        hubspot.propertyChange('contact', { objectId: 604, propertyName: 'associatedcompanyid', propertyValue: '902', occurredAt: t0 + 2 }),
        hubspot.propertyChange('company', { objectId: 901, propertyName: 'name', propertyValue: 'Acme', occurredAt: t0 + 3 }),
    ]);
    const [acct] = await deliveriesOf('901', 1);
    const p = h.verifyDelivery(acct, sub.secret);
    assert.equal(p.type, 'crm.account.updated');
    assert.equal(p.data.object?.name, 'Acme', acct.text);
    assert.deepEqual(p.data.object?.contactIds, ['603'], `the account lists its contacts: ${acct.text}`);
    const c = conn.connectionId;
    assert.equal((await redis.cli('SMEMBERS', `wh:as:{c:${c}}:account:902:contactIds`)).trim(), '604');
    // deals are synced too, so the account lists them (none yet)
    assert.deepEqual(p.data.object?.dealIds, [], acct.text);
});

ctx.test('sync records: a new record is announced as created, an unchanged one emits nothing, a changed one says what changed', async () => {
    const push = async (records) => {
        const res = await wharf.api('POST', `/v1/connections/${conn.connectionId}/sync/records`,
            { token: env.apiToken, json: { objectType: 'contact', source: 'sync', records } });
        assert.equal(res.status, 202, h.show(res));
    };
    const rec = { id: '801', email: 'sync@x.io', lastName: 'Doe', updatedAt: new Date(t0 + 1000).toISOString() };
    await push([rec]);
    const [created] = await deliveriesOf('801', 1);
    assert.equal(created.json.type, 'crm.contact.created', created.text);
    assert.equal(created.json.data.object?.email, 'sync@x.io', created.text);
    await push([rec]); // the same record again: nothing changed, nothing emitted (the entry is still consumed)
    await push([{ ...rec, email: 'sync2@x.io', updatedAt: new Date(t0 + 2000).toISOString() }]);
    const recs = await deliveriesOf('801', 2);
    await h.delay(500);
    const all = sink.to('/all').filter((r) => r.json?.data?.objectId === '801');
    assert.equal(all.length, 2, `exactly two events for 801: ${all.map((r) => r.text).join('\n')}`);
    const upd = recs[1].json;
    assert.equal(upd.type, 'crm.contact.updated', recs[1].text);
    assert.deepEqual([...upd.data.changedFields].sort(), ['email', 'updatedAt'], recs[1].text);
    assert.equal(upd.data.previous?.email, 'sync@x.io', recs[1].text);
    assert.equal(upd.data.object?.email, 'sync2@x.io', recs[1].text);
    assert.deepEqual(await redis.queueCounters().then((q) => q.xlen), 0, 'every entry acknowledged and removed');
});
