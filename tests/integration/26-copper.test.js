'use strict';
// Scenario 26: Copper on its per-connection route. A notification whose echoed `secret` matches the connection's
// becomes one crm.<objectType>.<action> per id (update: fields from updated_attributes); a wrong or missing secret is
// refused with nothing queued; a byte-identical re-post is delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('copper');
const secret = { wharf_token: crypto.randomBytes(24).toString('hex'), account: 'acme' };
const SUBSCRIPTION = 424242;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'copper', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'copper', externalAccountId: '1234567', credentials: { secret }, sync: { objects: { contacts: true, deals: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

let nextId = 1000000 + crypto.randomInt(1, 1000000) * 10;
const newId = () => ++nextId;

function notification({ type = 'person', event = 'update', ids = [newId()], updated, echo = secret } = {}) {
    const n = { ids, type, event, subscription_id: SUBSCRIPTION };
    if (echo !== null) n.secret = echo; // null: no secret at all
    if (updated) n.updated_attributes = updated;
    return JSON.stringify(n);
}

function post(body, headers = {}) {
    return h.request(wharf.url(`/webhooks/copper/${conn.connectionId}`), {
        method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body,
    });
}
const deliveriesOf = (objectId) => sink.to('/all').filter((r) => r.json?.data?.objectId === String(objectId));

ctx.test('person update → 202, crm.contact.updated with changedFields and values (standardwebhooks-verified)', async () => {
    const id = newId();
    const t0 = Date.now();
    const res = await post(notification({ ids: [id], updated: { email: [null, 'ada@example.com'], title: ['Engineer', 'CTO'] } }));
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    await h.waitUntil(() => deliveriesOf(id).length >= 1, { timeout: 15000, what: 'delivery', procs: [wharf.proc] });
    const rec = deliveriesOf(id)[0];
    const p = h.verifyDelivery(rec, sub.secret);
    assert.equal(p.type, 'crm.contact.updated', rec.text);
    assert.equal(p.data.integrationId, 'copper', rec.text);
    assert.equal(p.data.connectionId, conn.connectionId, rec.text);
    assert.equal(p.data.thin, false, rec.text);
    assert.deepEqual(p.data.changedFields, ['additional.email', 'title'], rec.text);
    const at = Date.parse(p.data.occurredAt);
    assert.ok(at >= t0 - 1000 && at <= Date.now(), `occurredAt ${p.data.occurredAt} is not the receive time`);
    assert.ok(!rec.text.includes(secret.wharf_token), 'the delivery carries the Copper secret');
});

ctx.test('opportunity new with three ids → 202 {accepted:3}, three thin crm.deal.created', async () => {
    const ids = [newId(), newId(), newId()];
    const res = await post(notification({ type: 'opportunity', event: 'new', ids }));
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 3 }, h.show(res));
    await h.waitUntil(() => ids.every((id) => deliveriesOf(id).length >= 1), { timeout: 15000, what: '3 deliveries', procs: [wharf.proc] });
    for (const id of ids) {
        const p = h.verifyDelivery(deliveriesOf(id)[0], sub.secret);
        assert.equal(p.type, 'crm.deal.created');
        assert.equal(p.data.thin, true);
    }
});

ctx.test('wrong or missing secret → 401 invalid_signature, nothing queued, nothing delivered', async () => {
    await h.delay(500);
    const delivered = sink.to('/all').length;
    const before = await redis.queueCounters();
    const id = newId();
    for (const echo of [
        { ...secret, wharf_token: `${secret.wharf_token}x` },
        { wharf_token: secret.wharf_token }, // one pair missing
        { ...secret, account: 'other' },
        {},
        null,
    ]) {
        const res = await post(notification({ ids: [id], echo }));
        assert.equal(res.status, 401, `${JSON.stringify(echo)}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
        assert.ok(!res.text.includes(secret.wharf_token), 'the answer echoes the secret');
    }
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    await h.delay(1000);
    assert.equal(sink.to('/all').length, delivered, 'a refused request was delivered');
    assert.equal(deliveriesOf(id).length, 0);
});

ctx.test('the same notification posted twice → 202 twice, delivered once', async () => {
    const id = newId();
    const body = notification({ type: 'company', event: 'delete', ids: [id] });
    const c0 = await redis.queueCounters();
    const first = await post(body);
    assert.equal(first.status, 202, h.show(first));
    const c1 = await redis.queueCounters();
    const again = await post(body);
    assert.equal(again.status, 202, h.show(again));
    const c2 = await redis.queueCounters();
    assert.ok(c1.added > c0.added, 'the first post queued nothing');
    assert.equal(c2.added, c1.added, 'the re-post queued again');
    await h.waitUntil(() => deliveriesOf(id).length >= 1, { timeout: 15000, what: 'delivery', procs: [wharf.proc] });
    await h.delay(1500);
    assert.equal(deliveriesOf(id).length, 1, `delivered ${deliveriesOf(id).length}×`);
    assert.equal(h.verifyDelivery(deliveriesOf(id)[0], sub.secret).type, 'crm.account.deleted');
});

ctx.test('malformed notification → 400; credentials are validated field by field at creation', async () => {
    const res = await post(JSON.stringify({ ids: [], type: 'person', event: 'new', secret }));
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'malformed_payload', h.show(res));
    const bad = await wharf.api('POST', '/v1/connections', {
        token: env.apiToken, json: { integrationId: 'copper', externalAccountId: 'x', credentials: { secret: {} }, sync: { objects: {} } },
    });
    assert.equal(bad.status, 400, h.show(bad));
    assert.match(bad.text, /credentials\.secret/, h.show(bad));
});
