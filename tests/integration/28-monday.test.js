'use strict';
// Scenario 28: monday.com on POST /webhooks/monday/{connectionId}: the URL-verification challenge, HS256 JWT
// verification (tokens made here with node:crypto, independently of wharf's C), board → objectType mapping,
// refusals and redeliveries (same triggerUuid).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('monday');
const signingSecret = `monday-${crypto.randomBytes(12).toString('hex')}`;
const BOARD = 5098231467;
let redis, wharf, sink, env, conn, sub, path;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'monday', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'monday', externalAccountId: '1825528',
        credentials: { signingSecret, boardMap: { [String(BOARD)]: 'deal' } }, sync: { objects: { deals: true } },
    });
    path = `/webhooks/monday/${conn.connectionId}`;
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['crm.*'] });
});

const b64u = (b) => Buffer.from(b).toString('base64url');

/* An HS256 JWT as monday signs it (claims per its integration-authorization doc). */
function jwt({ secret = signingSecret, alg = 'HS256', claims = {} } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const head = b64u(JSON.stringify({ alg, typ: 'JWT' }));
    const body = b64u(JSON.stringify({ accountId: 30418852, userId: 4419283, aud: h.PUBLIC_URL + path, exp: now + 60, iat: now, ...claims }));
    const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
}

function event(type, pulseId, extra = {}) {
    return {
        event: {
            userId: 4419283, originalTriggerUuid: null, boardId: BOARD, groupId: 'topics', pulseId, pulseName: `item ${pulseId}`,
            app: 'monday', type, triggerTime: new Date().toISOString(), subscriptionId: 73760484,
            triggerUuid: crypto.randomBytes(16).toString('hex'), ...extra,
        },
    };
}

function post(payload, { token = jwt(), body } = {}) {
    const headers = { 'Content-Type': 'application/json' };
    if (token !== null) headers.Authorization = token;
    return h.request(wharf.url(path), { method: 'POST', headers, body: body !== undefined ? body : JSON.stringify(payload) });
}

const deliveriesOf = (id) => sink.to('/all').filter((r) => r.json && r.json.data && r.json.data.objectId === String(id));

async function refused(send, status, code) {
    const before = await redis.queueCounters();
    const res = await send();
    assert.equal(res.status, status, `expected ${status} ${code}, got ${h.show(res)}`);
    assert.equal(h.errorCode(res), code, `expected ${code}, got ${h.show(res)}`);
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on a refused request');
}

ctx.test('challenge (our challenge body, no JWT) → 200 with the identical JSON, nothing queued', async () => {
    const body = '{\n "challenge": "Vq7nKx2Pw9Rb4Tz1Lm6Hd3Jf8Sc5Ya0Ue7Io2Gn4Wt9Xk1Bp6Q"\n}';
    const before = await redis.queueCounters();
    const res = await post(undefined, { token: null, body });
    assert.equal(res.status, 200, h.show(res));
    assert.match(String(res.headers['content-type']), /application\/json/);
    assert.deepEqual(res.json, JSON.parse(body));
    assert.deepEqual(await redis.queueCounters(), before);
    const signed = await post({ challenge: 'abc' });
    assert.equal(signed.status, 200, h.show(signed));
    assert.deepEqual(signed.json, { challenge: 'abc' });
});

ctx.test('create_pulse on a mapped board → 200, crm.deal.created delivered', async () => {
    const res = await post(event('create_pulse', 5001));
    assert.equal(res.status, 200, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 });
    await h.waitUntil(() => deliveriesOf(5001).length === 1, { what: 'delivery of 5001', procs: [wharf.proc] });
    const p = h.verifyDelivery(deliveriesOf(5001)[0], sub.secret);
    assert.equal(p.type, 'crm.deal.created');
    assert.equal(p.data.integrationId, 'monday');
});

ctx.test('update_column_value → crm.deal.updated with changedFields [additional.status]', async () => {
    const res = await post(event('update_column_value', 5002, { columnId: 'status', value: { label: { text: 'Won' } }, previousValue: null }),
        { token: `Bearer ${jwt()}` });
    assert.equal(res.status, 200, h.show(res));
    await h.waitUntil(() => deliveriesOf(5002).length === 1, { what: 'delivery of 5002', procs: [wharf.proc] });
    const p = h.verifyDelivery(deliveriesOf(5002)[0], sub.secret);
    assert.equal(p.type, 'crm.deal.updated');
    assert.deepEqual(p.data.changedFields, ['additional.status']);
});

ctx.test('bad JWTs → 401, nothing queued or delivered', async () => {
    const ev = event('create_pulse', 5003);
    await refused(() => post(ev, { token: jwt({ secret: 'wrong' }) }), 401, 'invalid_signature');
    await refused(() => post(ev, { token: null }), 401, 'invalid_signature');
    await refused(() => post(ev, { token: jwt({ alg: 'HS512' }) }), 401, 'invalid_signature');
    await refused(() => post(ev, { token: jwt({ claims: { aud: 'https://elsewhere.example/hook' } }) }), 401, 'invalid_signature');
    await refused(() => post(ev, { token: jwt({ claims: { exp: Math.floor(Date.now() / 1000) - 5 } }) }), 401, 'stale_timestamp');
    await refused(() => post({ event: { ...ev.event, type: 'create_update' } }), 400, 'malformed_payload');
    await h.delay(1000);
    assert.equal(deliveriesOf(5003).length, 0);
});

ctx.test('a monday retry (same triggerUuid, fresh JWT) → 200 again, delivered once', async () => {
    const ev = event('delete_pulse', 5004);
    const first = await post(ev);
    assert.equal(first.status, 200, h.show(first));
    const c1 = await redis.queueCounters();
    const again = await post({ event: { ...ev.event, isRetry: true } }, { token: jwt({ claims: { iat: Math.floor(Date.now() / 1000) + 1 } }) });
    assert.equal(again.status, 200, h.show(again));
    assert.equal((await redis.queueCounters()).added, c1.added, 'the retry was queued again');
    await h.waitUntil(() => deliveriesOf(5004).length >= 1, { what: 'delivery of 5004', procs: [wharf.proc] });
    await h.delay(1500);
    assert.equal(deliveriesOf(5004).length, 1);
    assert.equal(h.verifyDelivery(deliveriesOf(5004)[0], sub.secret).type, 'crm.deal.deleted');
});
