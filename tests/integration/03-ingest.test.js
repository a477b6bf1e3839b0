'use strict';
// Scenario 3: the HubSpot happy path on both ingest routes, delivered as Standard Webhooks events,
// filtered by event-type wildcards, isolated per environment, with the HubSpot → unified mapping.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('ingest');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let wharf, sink, env, conn, subContacts, subAll, version;

ctx.before(async () => {
    const redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'ingest', kind: 'development' });
    conn = await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    subContacts = await wharf.createSubscription(env.apiToken, { url: sink.url('/contacts'), eventTypes: ['crm.contact.*'] });
    subAll = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
    // another environment subscribed to everything must see none of this environment's events
    const other = await wharf.createEnvironment({ name: 'other', kind: 'development' });
    await wharf.createSubscription(other.apiToken, { url: sink.url('/other-env'), eventTypes: ['*'] });
    const out = require('node:child_process').execFileSync(h.wharfBin(), ['--version'], { encoding: 'utf8' });
    version = (out.match(/\d+\.\d+\.\d+[^\s]*/) || [])[0];
});

const t0 = Date.now() - 60000;
// batch 1 (app-level route) and batch 2 (per-connection route): contact email change, contact creation, deal amount change
const batch1 = [
    hubspot.propertyChange('contact', { objectId: 123, propertyName: 'email', propertyValue: 'a@b.c', occurredAt: t0 + 1 }),
    hubspot.creation('contact', { objectId: 124, occurredAt: t0 + 2 }),
    hubspot.propertyChange('deal', { objectId: 9001, propertyName: 'amount', propertyValue: '1500', occurredAt: t0 + 3 }),
];
const batch2 = [
    hubspot.propertyChange('contact', { objectId: 223, propertyName: 'email', propertyValue: 'x@y.z', occurredAt: t0 + 4 }),
    hubspot.creation('contact', { objectId: 224, occurredAt: t0 + 5 }),
    hubspot.propertyChange('deal', { objectId: 9002, propertyName: 'amount', propertyValue: '2500', occurredAt: t0 + 6 }),
];
const expected = {
    123: { type: 'crm.contact.updated', objectType: 'contact', action: 'updated', changedFields: ['email'], ev: batch1[0] },
    124: { type: 'crm.contact.created', objectType: 'contact', action: 'created', ev: batch1[1] },
    9001: { type: 'crm.deal.updated', objectType: 'deal', action: 'updated', changedFields: ['amount'], ev: batch1[2] },
    223: { type: 'crm.contact.updated', objectType: 'contact', action: 'updated', changedFields: ['email'], ev: batch2[0] },
    224: { type: 'crm.contact.created', objectType: 'contact', action: 'created', ev: batch2[1] },
    9002: { type: 'crm.deal.updated', objectType: 'deal', action: 'updated', changedFields: ['amount'], ev: batch2[2] },
};

ctx.test('POST /webhooks/hubspot (app-level, SDK-signed v3) → 202 {accepted:3}', async () => {
    const res = await wharf.postHubSpot({ events: batch1, secret });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 3 }, h.show(res));
});

ctx.test('POST /webhooks/hubspot/{connectionId} (SDK-signed v3) → 202 {accepted:3}', async () => {
    const res = await wharf.postHubSpot({ path: `/webhooks/hubspot/${conn.connectionId}`, events: batch2, secret });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 3 }, h.show(res));
});

/* Checks one verified delivery against what its HubSpot event should become. */
function checkDelivery(rec, payload) {
    const d = payload.data;
    assert.ok(d && typeof d === 'object', `no data object: ${rec.text}`);
    const exp = expected[d.objectId];
    assert.ok(exp, `unexpected data.objectId ${JSON.stringify(d.objectId)} (must be the HubSpot objectId as a string): ${rec.text}`);
    assert.equal(typeof d.objectId, 'string', `objectId must be a string: ${rec.text}`);
    assert.equal(payload.type, exp.type, `type for object ${d.objectId}: ${rec.text}`);
    assert.ok(!Number.isNaN(Date.parse(payload.timestamp)), `timestamp is not ISO 8601: ${rec.text}`);
    assert.equal(d.objectType, exp.objectType, `objectType: ${rec.text}`);
    assert.equal(d.action, exp.action, `action: ${rec.text}`);
    assert.equal(d.integrationId, 'hubspot', `integrationId: ${rec.text}`);
    assert.equal(d.connectionId, conn.connectionId, `connectionId: ${rec.text}`);
    assert.match(String(d.eventId), /^evt_/, `eventId: ${rec.text}`);
    assert.equal(Date.parse(d.occurredAt), exp.ev.occurredAt, `occurredAt ${d.occurredAt} is not HubSpot's occurredAt ${new Date(exp.ev.occurredAt).toISOString()}`);
    if (exp.changedFields) assert.deepEqual(d.changedFields, exp.changedFields, `changedFields: ${rec.text}`);
    assert.equal(typeof d.thin, 'boolean', `thin must be a boolean: ${rec.text}`);
    if (exp.action === 'updated') assert.equal(d.thin, false, `a propertyChange carries its value: thin must be false: ${rec.text}`);
    assert.match(rec.headers['webhook-id'] || '', /^msg_/, `webhook-id header: ${JSON.stringify(rec.headers)}`);
    assert.match(rec.headers['content-type'] || '', /^application\/json/, `content-type: ${rec.headers['content-type']}`);
    assert.equal(rec.headers['user-agent'], `wharf/${version}`, `user-agent (wharf --version says ${version})`);
    const ts = Number(rec.headers['webhook-timestamp']);
    assert.ok(Math.abs(ts - rec.at / 1000) <= 5, `webhook-timestamp ${ts} is not the time of the attempt (${Math.round(rec.at / 1000)})`);
    assert.equal(rec.method, 'POST', `method ${rec.method}`);
}

ctx.test('crm.contact.* subscription gets exactly the 4 contact events, each verified by standardwebhooks', async () => {
    await sink.waitFor('/contacts', 4, { procs: [wharf.proc] });
    await h.delay(1000); // quiet period: no extra delivery may follow
    const recs = sink.to('/contacts');
    assert.equal(recs.length, 4, `expected 4 deliveries, got ${recs.length}: ${recs.map((r) => r.text).join('\n')}`);
    const ids = [];
    for (const rec of recs) {
        const payload = h.verifyDelivery(rec, subContacts.secret);
        checkDelivery(rec, payload);
        ids.push(payload.data.objectId);
    }
    assert.deepEqual(ids.sort(), ['123', '124', '223', '224'], 'contact deliveries');
    assert.equal(new Set(recs.map((r) => r.headers['webhook-id'])).size, 4, 'webhook-id must differ between events');
});

ctx.test('* subscription gets all 6 events, each verified by standardwebhooks', async () => {
    await sink.waitFor('/all', 6, { procs: [wharf.proc] });
    await h.delay(500);
    const recs = sink.to('/all');
    assert.equal(recs.length, 6, `expected 6 deliveries, got ${recs.length}: ${recs.map((r) => r.text).join('\n')}`);
    const ids = recs.map((rec) => { const p = h.verifyDelivery(rec, subAll.secret); checkDelivery(rec, p); return p.data.objectId; });
    assert.deepEqual(ids.sort(), ['123', '124', '223', '224', '9001', '9002'], '* deliveries');
    // the same event to two subscriptions: same eventId, each signed with its own subscription's secret
    const c123 = sink.to('/contacts').find((r) => r.json?.data?.objectId === '123');
    const a123 = recs.find((r) => r.json?.data?.objectId === '123');
    assert.ok(c123 && a123, 'object 123 missing from one of the subscriptions');
    assert.equal(a123.json.data.eventId, c123.json.data.eventId, 'one event must keep its eventId across subscriptions');
    assert.throws(() => new h.Webhook(subContacts.secret).verify(a123.text, a123.headers), 'a delivery to * verified with the other subscription\'s secret');
});

ctx.test("another environment's * subscription receives nothing", async () => {
    await sink.waitFor('/all', 6, { procs: [wharf.proc] });
    await h.delay(300);
    assert.equal(sink.to('/other-env').length, 0, `other environment got: ${sink.to('/other-env').map((r) => r.text).join('\n')}`);
});

ctx.test('a propertyChange delivery of a synced contact carries the cached record (object.email)', async () => {
    await sink.waitFor('/contacts', 1, { procs: [wharf.proc] });
    const rec = sink.to('/contacts').find((r) => r.json?.data?.objectId === '123');
    assert.ok(rec, 'no delivery for contact 123');
    const o = rec.json.data.object;
    assert.ok(o && typeof o === 'object', `data.object: ${rec.text}`);
    assert.equal(o.email, 'a@b.c', `data.object.email: ${rec.text}`);
});

ctx.test('HubSpot mapping: firstname → firstName, company.* → crm.account.*, deletion → deleted', async () => {
    const before = sink.to('/all').length;
    const batch = [
        hubspot.propertyChange('contact', { objectId: 323, propertyName: 'firstname', propertyValue: 'Ada', occurredAt: t0 + 10 }),
        hubspot.creation('company', { objectId: 555, occurredAt: t0 + 11 }),
        hubspot.propertyChange('company', { objectId: 556, propertyName: 'name', propertyValue: 'Acme', occurredAt: t0 + 12 }),
        hubspot.deletion('contact', { objectId: 224, occurredAt: t0 + 13 }),
        hubspot.creation('deal', { objectId: 9003, occurredAt: t0 + 14 }),
    ];
    const res = await wharf.postHubSpot({ events: batch, secret });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 5 }, h.show(res));
    await sink.waitFor('/all', before + 5, { procs: [wharf.proc] });
    const got = {};
    for (const rec of sink.to('/all').slice(before)) {
        const p = h.verifyDelivery(rec, subAll.secret);
        got[p.data.objectId] = p;
    }
    const want = {
        323: ['crm.contact.updated', 'contact', 'updated', ['firstName']],
        555: ['crm.account.created', 'account', 'created'],
        556: ['crm.account.updated', 'account', 'updated', ['name']],
        224: ['crm.contact.deleted', 'contact', 'deleted'],
        9003: ['crm.deal.created', 'deal', 'created'],
    };
    for (const [id, [type, objectType, action, changed]] of Object.entries(want)) {
        const p = got[id];
        assert.ok(p, `no delivery for object ${id}; got ${JSON.stringify(Object.keys(got))}`);
        assert.equal(p.type, type, `object ${id}: ${JSON.stringify(p)}`);
        assert.equal(p.data.objectType, objectType, `object ${id}: ${JSON.stringify(p)}`);
        assert.equal(p.data.action, action, `object ${id}: ${JSON.stringify(p)}`);
        if (changed) assert.deepEqual(p.data.changedFields, changed, `object ${id} changedFields: ${JSON.stringify(p)}`);
    }
    // contact events also reached the contact subscription, the account/deal ones did not
    await sink.waitFor('/contacts', 6, { procs: [wharf.proc] });
    await h.delay(500);
    const contactIds = sink.to('/contacts').map((r) => r.json?.data?.objectId).sort();
    assert.deepEqual(contactIds, ['123', '124', '223', '224', '224', '323'], 'crm.contact.* deliveries after the mapping batch');
});
