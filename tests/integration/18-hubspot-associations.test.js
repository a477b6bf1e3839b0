'use strict';
// Scenario 18: HubSpot associationChange events move a child between parents in the synced cache, as a write of
// the child's reference field at the event's time (cache/README.md, "Association changes"): an association puts
// the contact in the company's contactIds, a removal takes it out, an older association arriving after a newer
// one does not win, a removal of a former parent leaves the current one alone, and association types without a
// unified association leave the cache as it was. Read back through GET /v1/cache and Redis.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('hubspot-associations');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'associations', kind: 'development' });
    conn = await wharf.createHubSpotConnection(env.apiToken,
        { portalId: hubspot.PORTAL, secret, objects: { contacts: true, deals: true, accounts: true } });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
    // the initial sync: two companies, two contacts without a company, a deal
    await push('account', [
        { id: '9001', name: 'Acme', updatedAt: iso(t0) },
        { id: '9002', name: 'Globex', updatedAt: iso(t0) },
    ]);
    await push('contact', [
        { id: '5001', email: 'ann@x.io', updatedAt: iso(t0) },
        { id: '5002', email: 'bob@x.io', updatedAt: iso(t0) },
    ]);
    await push('deal', [{ id: '7001', name: 'Big', updatedAt: iso(t0) }]);
    await drained();
});

const t0 = Date.now() - 3600000;
const iso = (ms) => new Date(ms).toISOString();

/* A legacy `<object>.associationChange` event (HubSpot's field table: README §3.5). */
function association(object, { type, from, to, at, removed = false, primary = true }) {
    const e = hubspot.event(`${object}.associationChange`, { occurredAt: at });
    delete e.objectId;
    return Object.assign(e, { associationType: type, fromObjectId: from, toObjectId: to, associationRemoved: removed,
        isPrimaryAssociation: primary });
}

/* Posts each batch as its own request, in order (one connection: the queue keeps that order). */
async function post(...batches) {
    for (const events of batches) {
        const res = await wharf.postHubSpot({ events, secret });
        assert.equal(res.status, 202, h.show(res));
    }
}

async function push(objectType, records) {
    const res = await wharf.api('POST', `/v1/connections/${conn.connectionId}/sync/records`,
        { token: env.apiToken, json: { objectType, source: 'sync', records } });
    assert.equal(res.status, 202, h.show(res));
}

async function drained() {
    await h.waitUntil(async () => (await redis.queueCounters()).xlen === 0, { what: 'the queue drained', procs: [wharf.proc] });
}

async function read(p) {
    const res = await wharf.api('GET', `/v1/cache/${conn.connectionId}/${p}`, { token: env.apiToken });
    assert.equal(res.status, 200, h.show(res));
    return res.json.object;
}

const members = async (key) => (await redis.cli('SMEMBERS', key)).split('\n').filter((l) => l !== '').sort();


ctx.test('an associationChange adds the contact to the company\'s contactIds; its removal takes it out', async () => {
    await post([association('contact', { type: 'CONTACT_TO_COMPANY', from: 5001, to: 9001, at: t0 + 100 })]);
    await drained();
    assert.deepEqual((await read('account/9001')).contactIds, ['5001']);
    assert.equal((await read('contact/5001')).accountId, '9001');
    assert.equal((await read('contact/5001')).email, 'ann@x.io', 'the rest of the contact is untouched');
    const c = conn.connectionId;
    assert.deepEqual(await members(`wh:as:{c:${c}}:account:9001:contactIds`), ['5001']);

    // the event still goes out, thin, naming the association it moved
    const rec = await h.waitUntil(() => sink.to('/all').find((r) => r.json?.data?.action === 'associated'
        && r.json.data.objectId === '5001'), { timeout: 15000, what: 'the associated delivery', procs: [wharf.proc] });
    const p = h.verifyDelivery(rec, sub.secret);
    assert.equal(p.type, 'crm.contact.associated');
    assert.equal(p.data.thin, true);
    assert.deepEqual(p.data.details.association, { childType: 'contact', childId: '5001', field: 'accountId',
        parentType: 'account', parentId: '9001', removed: false });

    // the removal, seen from the company's side
    await post([association('company', { type: 'COMPANY_TO_CONTACT', from: 9001, to: 5001, at: t0 + 200, removed: true })]);
    await drained();
    assert.deepEqual((await read('account/9001')).contactIds, []);
    assert.equal((await read('contact/5001')).accountId, null);
});

ctx.test('an older associationChange arriving after a newer one does not win', async () => {
    await post(
        [association('contact', { type: 'CONTACT_TO_COMPANY', from: 5002, to: 9002, at: t0 + 400 })],
        // older: moved to 9001 before the newer move to 9002, delivered late
        [association('contact', { type: 'CONTACT_TO_COMPANY', from: 5002, to: 9001, at: t0 + 300 })],
        // older removal of the current parent, delivered late
        [association('company', { type: 'COMPANY_TO_CONTACT', from: 9002, to: 5002, at: t0 + 350, removed: true })],
        // a later removal of the former parent leaves the current one alone
        [association('contact', { type: 'CONTACT_TO_COMPANY', from: 5002, to: 9001, at: t0 + 500, removed: true })],
    );
    await drained();
    assert.deepEqual((await read('account/9002')).contactIds, ['5002']);
    assert.deepEqual((await read('account/9001')).contactIds, []);
    assert.equal((await read('contact/5002')).accountId, '9002');
    const ver = (await redis.cli('HGET', `wh:ver:{c:${conn.connectionId}}:contact:5002`, 'accountId')).trim();
    assert.equal(ver, String(t0 + 400), 'the field keeps the version of the association that set it');
});

ctx.test('deals, unknown children, and association types without a unified association', async () => {
    await post([
        association('deal', { type: 'DEAL_TO_COMPANY', from: 7001, to: 9002, at: t0 + 100, primary: false }),
        // a contact the cache has never seen: created with its reference, like a property change would
        association('company', { type: 'COMPANY_TO_CONTACT', from: 9002, to: 5009, at: t0 + 100 }),
        // no unified association: dispatched, cache untouched
        association('deal', { type: 'DEAL_TO_CONTACT', from: 7001, to: 5001, at: t0 + 100 }),
    ]);
    await drained();
    assert.deepEqual((await read('account/9002')).dealIds, ['7001']);
    assert.equal((await read('deal/7001')).accountId, '9002');
    assert.deepEqual((await read('account/9002')).contactIds, ['5002', '5009']);
    assert.deepEqual(await read('contact/5009'), { id: '5009', accountId: '9002' });
    const deal = await read('deal/7001');
    assert.equal(deal.contactId, undefined, JSON.stringify(deal));
    const contact = await read('contact/5001');
    assert.equal(contact.accountId, null, 'DEAL_TO_CONTACT did not touch the contact');
});
