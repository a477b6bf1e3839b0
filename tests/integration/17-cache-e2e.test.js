'use strict';
// Scenario 17: the synced cache end to end, written by the worker and read through the API: a connection
// syncing contacts and deals streams records in, HubSpot webhooks interleave with them, and
// GET /v1/cache answers the right state (per-field latest values, deletes sticking, filters, association
// lists, syncState moving with sync/status). Another environment cannot read it.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('cache-e2e');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, env, conn;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'cache-e2e', kind: 'development' });
    conn = await wharf.createHubSpotConnection(env.apiToken,
        { portalId: hubspot.PORTAL, secret, objects: { contacts: true, deals: true, accounts: true } });
    await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

const t0 = Date.now() - 3600000;
const iso = (ms) => new Date(ms).toISOString();

async function push(objectType, records) {
    const res = await wharf.api('POST', `/v1/connections/${conn.connectionId}/sync/records`,
        { token: env.apiToken, json: { objectType, source: 'sync', records } });
    assert.equal(res.status, 202, h.show(res));
}

async function webhook(events) {
    const res = await wharf.postHubSpot({ events, secret });
    assert.equal(res.status, 202, h.show(res));
}

const read = (p, token = env.apiToken) => wharf.api('GET', `/v1/cache/${conn.connectionId}/${p}`, { token });

/* Waits until the worker has consumed every stream entry. */
async function drained() {
    await h.waitUntil(async () => (await redis.queueCounters()).xlen === 0, { what: 'the queue drained', procs: [wharf.proc] });
}

ctx.test('sync records and HubSpot webhooks interleaved end in the right state, read back through the API', async () => {
    // the initial sync streams contacts and a deal in
    await push('contact', [
        { id: '3001', firstName: 'Ann', lastName: 'Smith', email: 'ann@x.io', accountId: 'A1', updatedAt: iso(t0) },
        { id: '3002', firstName: 'Bob', lastName: 'Smithers', email: 'bob@x.io', updatedAt: iso(t0) },
        { id: '3003', firstName: 'Cy', lastName: 'Jones', email: 'cy@x.io', updatedAt: iso(t0) },
    ]);
    await push('deal', [{ id: 'D1', name: 'Big', amount: 5000, closeDate: '2026-12-01', updatedAt: iso(t0) }]);
    // a webhook newer than the sync, one older than it (must not win), and a deletion
    await webhook([hubspot.propertyChange('contact', { objectId: 3001, occurredAt: t0 + 5000, propertyName: 'email', propertyValue: 'ann@new.io' })]);
    await push('contact', [{ id: '3001', firstName: 'Ann', lastName: 'Smith', email: 'ann@stale.io', updatedAt: iso(t0 + 1000) }]);
    await webhook([hubspot.deletion('contact', { objectId: 3003, occurredAt: t0 + 2000 })]);
    await push('contact', [{ id: '3003', firstName: 'Cy', lastName: 'Jones', email: 'cy@late.io', updatedAt: iso(t0 + 1500) }]);
    await drained();

    const ann = await read('contact/3001');
    assert.equal(ann.status, 200, h.show(ann));
    assert.equal(ann.json.object.email, 'ann@new.io', 'the later webhook wins over the older sync record');
    assert.equal(ann.json.object.lastName, 'Smith', h.show(ann));
    assert.equal(ann.json.syncState, 'initial-sync-in-progress', h.show(ann));
    const gone = await read('contact/3003');
    assert.equal(gone.status, 404, `a deleted contact came back: ${h.show(gone)}`);

    const smi = await read('contact?filter=lastName:startsWith:smi');
    assert.equal(smi.status, 200, h.show(smi));
    assert.deepEqual(smi.json.objects.map((o) => o.id).sort(), ['3001', '3002'], h.show(smi));
    const byEmail = await read('contact?filter=email:eq:ANN@NEW.IO');
    assert.deepEqual(byEmail.json.objects.map((o) => o.id), ['3001'], h.show(byEmail));
    const stale = await read('contact?filter=email:eq:ann@stale.io');
    assert.deepEqual(stale.json.objects, [], `the index kept an overwritten value: ${h.show(stale)}`);
    const deals = await read('deal?filter=amount:gt:1000&filter=closeDate:lt:2027-01-01');
    assert.deepEqual(deals.json.objects.map((o) => o.id), ['D1'], h.show(deals));

    // the account arrives later; its record then lists the contact that named it (two-way association)
    await push('account', [{ id: 'A1', name: 'Acme', updatedAt: iso(t0) }]);
    await drained();
    const account = await read('account/A1');
    assert.equal(account.status, 200, h.show(account));
    assert.deepEqual(account.json.object.contactIds, ['3001'], h.show(account));
});

ctx.test('sync/status moves syncState in the cache answers; another environment reads nothing', async () => {
    for (const status of ['INITIAL_SYNCED', 'READY']) {
        const res = await wharf.api('POST', `/v1/connections/${conn.connectionId}/sync/status`, { token: env.apiToken, json: { status } });
        assert.equal(res.status, 200, h.show(res));
    }
    const ann = await read('contact/3001');
    assert.equal(ann.json.syncState, 'initial-sync-complete', h.show(ann));
    const other = await wharf.createEnvironment({ name: 'other', kind: 'development' });
    for (const p of ['contact/3001', 'contact', 'contact?filter=lastName:startsWith:smi']) {
        const res = await read(p, other.apiToken);
        assert.equal(res.status, 404, `another environment read ${p}: ${h.show(res)}`);
    }
    const notSynced = await read('task');
    assert.equal(notSynced.status, 400, h.show(notSynced));
    assert.equal(h.errorCode(notSynced), 'object_not_synced', h.show(notSynced));
});
