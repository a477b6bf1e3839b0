'use strict';
// Scenario 21: Close on its per-connection route: a signed event becomes crm.<objectType>.<action> delivered as a
// Standard Webhooks event; a bad signature is refused with nothing queued; a redelivery is delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('close');
const signatureKey = crypto.randomBytes(32).toString('hex');
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'close', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'close', externalAccountId: 'orga_it', credentials: { signatureKey },
        sync: { objects: { contacts: true, accounts: true, deals: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

/* Close's scheme: hex HMAC-SHA256 keyed with the hex-decoded key over close-sig-timestamp ‖ raw body. */
function closeHeaders(body, { key = signatureKey, timestamp = Math.floor(Date.now() / 1000) } = {}) {
    const ts = String(timestamp);
    const hash = crypto.createHmac('sha256', Buffer.from(key, 'hex')).update(ts + body).digest('hex');
    return { 'Content-Type': 'application/json', 'close-sig-hash': hash, 'close-sig-timestamp': ts };
}

function post(body, headers) {
    return h.request(wharf.url(`/webhooks/close/${conn.connectionId}`), { method: 'POST', headers, body });
}

const occurred = new Date(Date.now() - 30000);
const closeDate = (d) => d.toISOString().replace('Z', '000'); // Close: microseconds, no offset
function closeEvent(id, objectId, o = {}) {
    return JSON.stringify({
        event: {
            id, object_type: 'opportunity', object_id: objectId, action: 'updated', organization_id: 'orga_it',
            date_created: closeDate(occurred), date_updated: closeDate(occurred),
            changed_fields: ['value'], previous_data: { value: 100 },
            data: { id: objectId, value: 2500, value_currency: 'USD', lead_id: 'lead_it' }, ...o,
        },
        subscription_id: 'whsub_it',
    });
}

ctx.test('signed Close event → 202, delivered as crm.deal.updated and verified by standardwebhooks', async () => {
    const body = closeEvent('ev_it_1', 'oppo_it_1');
    const res = await post(body, closeHeaders(body));
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const rec = sink.to('/all').find((r) => r.json?.data?.objectId === 'oppo_it_1');
    assert.ok(rec, `no delivery for oppo_it_1: ${sink.to('/all').map((r) => r.text).join('\n')}`);
    const payload = h.verifyDelivery(rec, sub.secret);
    const d = payload.data;
    assert.equal(payload.type, 'crm.deal.updated', rec.text);
    assert.equal(d.objectType, 'deal', rec.text);
    assert.equal(d.action, 'updated', rec.text);
    assert.equal(d.integrationId, 'close', rec.text);
    assert.equal(d.connectionId, conn.connectionId, rec.text);
    assert.equal(Date.parse(d.occurredAt), occurred.getTime(), `occurredAt ${d.occurredAt}`);
    assert.deepEqual(d.changedFields, ['amount'], rec.text);
    assert.equal(d.thin, false, rec.text);
});

ctx.test('invalid signature → 401 invalid_signature, nothing queued, nothing delivered', async () => {
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const delivered = sink.to('/all').length;
    const before = await redis.queueCounters();
    const body = closeEvent('ev_it_bad', 'oppo_it_bad');
    for (const headers of [
        closeHeaders(body, { key: crypto.randomBytes(32).toString('hex') }),
        { ...closeHeaders(body), 'close-sig-hash': '00'.repeat(32) },
        { 'Content-Type': 'application/json' },
    ]) {
        const res = await post(body, headers);
        assert.equal(res.status, 401, h.show(res));
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
    }
    // correctly signed but 10 minutes old
    const stale = await post(body, closeHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 600 }));
    assert.equal(stale.status, 401, h.show(stale));
    assert.equal(h.errorCode(stale), 'stale_timestamp', h.show(stale));
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    await h.delay(1000);
    assert.equal(sink.to('/all').length, delivered, 'a refused request was delivered');
    assert.ok(!sink.to('/all').some((r) => r.json?.data?.objectId === 'oppo_it_bad'));
});

ctx.test('redelivery of the same Close event (same id and date_updated, re-signed) → 202 and delivered once', async () => {
    const body = closeEvent('ev_it_2', 'oppo_it_2');
    const first = await post(body, closeHeaders(body));
    assert.equal(first.status, 202, h.show(first));
    await h.delay(1100); // Close re-signs each attempt with a new timestamp
    const again = await post(body, closeHeaders(body));
    assert.equal(again.status, 202, h.show(again));
    await sink.waitFor('/all', 2, { procs: [wharf.proc] });
    await h.delay(1500);
    const recs = sink.to('/all').filter((r) => r.json?.data?.objectId === 'oppo_it_2');
    assert.equal(recs.length, 1, `expected one delivery for oppo_it_2, got ${recs.length}`);
    h.verifyDelivery(recs[0], sub.secret);
});
