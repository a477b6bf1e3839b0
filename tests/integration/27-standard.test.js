'use strict';
// Scenario 27: the generic Standard Webhooks provider on POST /webhooks/standard/{connectionId}. Requests are
// signed by the official standardwebhooks library (the oracle), deliveries verified with it too.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('standard');
const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'standard', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'standard', externalAccountId: 'acme',
        credentials: { secret, typeMap: { 'person.changed': 'contact.updated' } }, sync: { objects: { contacts: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['crm.*'] });
});

/* POST a Standard Webhooks message signed by the official library (`signSecret` defaults to the connection's). */
function post({ msgId = `msg_${crypto.randomBytes(8).toString('hex')}`, payload, body, signSecret = secret, date = new Date(),
    headers = {} } = {}) {
    const raw = body !== undefined ? body : JSON.stringify(payload);
    const h0 = {
        'Content-Type': 'application/json',
        'webhook-id': msgId,
        'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
        'webhook-signature': new h.Webhook(signSecret).sign(msgId, date, raw),
        ...headers,
    };
    return h.request(wharf.url(`/webhooks/standard/${conn.connectionId}`), { method: 'POST', headers: h0, body: raw });
}

const deliveriesOf = (id) => sink.to('/all').filter((r) => r.json && r.json.data && r.json.data.objectId === id);

async function refused(send, status, code) {
    const before = await redis.queueCounters();
    const res = await send();
    assert.equal(res.status, status, `expected ${status} ${code}, got ${h.show(res)}`);
    assert.equal(h.errorCode(res), code, `expected ${code}, got ${h.show(res)}`);
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on a refused request');
}

ctx.test('a signed message → 202 and crm.contact.updated delivered, signed for the subscription', async () => {
    const res = await post({ payload: { type: 'contact.updated', timestamp: '2026-11-23T10:00:00.000Z', data: { id: 'c-1', email: 'a@b.c' } } });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 });
    await h.waitUntil(() => deliveriesOf('c-1').length === 1, { what: 'delivery of c-1', procs: [wharf.proc] });
    const p = h.verifyDelivery(deliveriesOf('c-1')[0], sub.secret);
    assert.equal(p.type, 'crm.contact.updated');
    assert.equal(p.data.integrationId, 'standard');
    assert.equal(p.data.connectionId, conn.connectionId);
    assert.equal(p.data.action, 'updated');
    assert.equal(p.data.occurredAt, '2026-11-23T10:00:00.000Z');
});

ctx.test('the connection typeMap maps the sender\'s type: person.changed → crm.contact.updated', async () => {
    const res = await post({ payload: { type: 'person.changed', timestamp: new Date().toISOString(), data: { id: 'c-2', firstName: 'Ada' } } });
    assert.equal(res.status, 202, h.show(res));
    await h.waitUntil(() => deliveriesOf('c-2').length === 1, { what: 'delivery of c-2', procs: [wharf.proc] });
    assert.equal(h.verifyDelivery(deliveriesOf('c-2')[0], sub.secret).type, 'crm.contact.updated');
});

ctx.test('invalid signature, stale timestamp, malformed body → refused, nothing queued or delivered', async () => {
    const payload = { type: 'contact.created', timestamp: new Date().toISOString(), data: { id: 'c-bad' } };
    await refused(() => post({ payload, signSecret: `whsec_${crypto.randomBytes(32).toString('base64')}` }), 401, 'invalid_signature');
    await refused(() => post({ payload, headers: { 'webhook-signature': 'v1,AAAA' } }), 401, 'invalid_signature');
    await refused(() => post({ payload, date: new Date(Date.now() - 301000) }), 401, 'stale_timestamp');
    await refused(() => post({ payload: { ...payload, type: 'contact.frobbed' } }), 400, 'malformed_payload');
    await h.delay(1000);
    assert.equal(deliveriesOf('c-bad').length, 0);
});

ctx.test('a redelivery (same webhook-id, new timestamp and signature) → 202 again, delivered once', async () => {
    const msgId = 'msg_redelivered_1';
    const payload = { type: 'deal.created', timestamp: new Date().toISOString(), data: { id: 'd-1', amount: 10 } };
    const c0 = await redis.queueCounters();
    const first = await post({ msgId, payload });
    assert.equal(first.status, 202, h.show(first));
    const c1 = await redis.queueCounters();
    const second = await post({ msgId, payload, date: new Date(Date.now() + 1000) });
    assert.equal(second.status, 202, h.show(second));
    assert.equal((await redis.queueCounters()).added, c1.added, 'the redelivery was queued again');
    assert.ok(c1.added > c0.added);
    await h.waitUntil(() => deliveriesOf('d-1').length >= 1, { what: 'delivery of d-1', procs: [wharf.proc] });
    await h.delay(1500);
    assert.equal(deliveriesOf('d-1').length, 1);
    assert.equal(h.verifyDelivery(deliveriesOf('d-1')[0], sub.secret).type, 'crm.deal.created');
});

ctx.test('credentials are validated field by field', async () => {
    const res = await wharf.api('POST', '/v1/connections', {
        token: env.apiToken, json: { integrationId: 'standard', credentials: { secret: 'not-whsec' }, sync: { objects: {} } },
    });
    assert.equal(res.status, 400, h.show(res));
    assert.match(res.text, /credentials\.secret/);
});
