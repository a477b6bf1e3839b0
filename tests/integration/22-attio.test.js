'use strict';
// Scenario 22: Attio on its per-connection route: a signed (thin) record event becomes crm.<objectType>.<action>
// through the connection's objectMap; a bad signature is refused with nothing queued; a redelivery (same
// Idempotency-Key) is delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('attio');
const signingSecret = crypto.randomBytes(32).toString('hex');
const PEOPLE = crypto.randomUUID();
const WORKSPACE = crypto.randomUUID();
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'attio', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'attio', externalAccountId: WORKSPACE, credentials: { signingSecret, objectMap: { [PEOPLE]: 'contact' } },
        sync: { objects: { contacts: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

/* Attio's scheme: hex HMAC-SHA256 of the raw body keyed with the secret string (see providers/attio.c). */
function attioHeaders(body, { secret = signingSecret, idempotencyKey = crypto.randomUUID() } = {}) {
    const sig = crypto.createHmac('sha256', secret).update(body).digest('hex');
    return { 'Content-Type': 'application/json', 'Attio-Signature': sig, 'X-Attio-Signature': sig, 'Idempotency-Key': idempotencyKey };
}

function post(body, headers) {
    return h.request(wharf.url(`/webhooks/attio/${conn.connectionId}`), { method: 'POST', headers, body });
}

function attioBody(recordId, eventType = 'record.updated') {
    return JSON.stringify({
        webhook_id: crypto.randomUUID(),
        events: [{
            event_type: eventType,
            id: { workspace_id: WORKSPACE, object_id: PEOPLE, record_id: recordId, attribute_id: crypto.randomUUID() },
            actor: { type: 'workspace-member', id: crypto.randomUUID() },
        }],
    });
}

ctx.test('signed Attio event → 202, delivered as crm.contact.updated (thin) and verified by standardwebhooks', async () => {
    const rec1 = crypto.randomUUID();
    const t0 = Date.now();
    const body = attioBody(rec1);
    const res = await post(body, attioHeaders(body));
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const rec = sink.to('/all').find((r) => r.json?.data?.objectId === rec1);
    assert.ok(rec, `no delivery for ${rec1}: ${sink.to('/all').map((r) => r.text).join('\n')}`);
    const payload = h.verifyDelivery(rec, sub.secret);
    const d = payload.data;
    assert.equal(payload.type, 'crm.contact.updated', rec.text);
    assert.equal(d.objectType, 'contact', rec.text);
    assert.equal(d.action, 'updated', rec.text);
    assert.equal(d.integrationId, 'attio', rec.text);
    assert.equal(d.connectionId, conn.connectionId, rec.text);
    assert.equal(d.thin, true, rec.text);
    // no time in Attio's body: occurredAt is when wharf received it
    const at = Date.parse(d.occurredAt);
    assert.ok(at >= t0 - 1000 && at <= Date.now(), `occurredAt ${d.occurredAt} is not the receive time`);
});

ctx.test('invalid signature → 401 invalid_signature, nothing queued, nothing delivered', async () => {
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const delivered = sink.to('/all').length;
    const before = await redis.queueCounters();
    const bad = crypto.randomUUID();
    const body = attioBody(bad);
    for (const headers of [
        attioHeaders(body, { secret: 'not-the-secret' }),
        { ...attioHeaders(body), 'Attio-Signature': '00'.repeat(32), 'X-Attio-Signature': '00'.repeat(32) },
        { 'Content-Type': 'application/json' },
    ]) {
        const res = await post(body, headers);
        assert.equal(res.status, 401, h.show(res));
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
    }
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    await h.delay(1000);
    assert.equal(sink.to('/all').length, delivered, 'a refused request was delivered');
    assert.ok(!sink.to('/all').some((r) => r.json?.data?.objectId === bad));
});

ctx.test('redelivery (same Idempotency-Key) → 202 and delivered once', async () => {
    const rec2 = crypto.randomUUID();
    const body = attioBody(rec2, 'record.created');
    const headers = attioHeaders(body, { idempotencyKey: crypto.randomUUID() });
    const first = await post(body, headers);
    assert.equal(first.status, 202, h.show(first));
    const again = await post(body, headers);
    assert.equal(again.status, 202, h.show(again));
    await sink.waitFor('/all', 2, { procs: [wharf.proc] });
    await h.delay(1500);
    const recs = sink.to('/all').filter((r) => r.json?.data?.objectId === rec2);
    assert.equal(recs.length, 1, `expected one delivery for ${rec2}, got ${recs.length}`);
    assert.equal(h.verifyDelivery(recs[0], sub.secret).type, 'crm.contact.created');
});
